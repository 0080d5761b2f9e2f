/**
 * What the wire, the WAL and the replicas can hold. Input beyond these is refused where it enters (peer
 * frames, client RPC), never accepted and failed later (a WAL batch shared with other groups) or stored.
 */

/** Group ids are uint32 in the WAL's record header. */
export const MAX_GROUP_ID = 0xffff_ffff;

/**
 * The largest pid, ballot, LSN, CSN, sequence or incarnation accepted from outside. Half of 2^53: a replica
 * moves its pid and ballot on by one per election, so after promising the largest accepted pid it still has
 * 2^52 representable successors, and a forged message can never drive it to a promise it cannot move past.
 */
export const MAX_COUNTER = 2 ** 52;

/**
 * The largest refCsn a client may ask for: 2^32 below MAX_COUNTER, so a group pushed there by one append
 * still has 2^32 CSNs left for the entries after it (each takes at least last + 1). A refCsn up to
 * MAX_COUNTER itself would let the next entry's CSN pass the limit peers accept, and wedge the group.
 */
export const MAX_REF_CSN = MAX_COUNTER - 2 ** 32;

/** A group id the WAL can store. */
export function isGroupId(x: unknown): x is number {
  return Number.isInteger(x) && (x as number) >= 0 && (x as number) <= MAX_GROUP_ID;
}

/** A natural number with headroom: at most MAX_COUNTER. */
export function isCounter(x: unknown): x is number {
  return Number.isSafeInteger(x) && (x as number) >= 0 && (x as number) <= MAX_COUNTER;
}

/** Node ids listed at most once: a quorum counted over a list with repeats could be one node's vote. */
export function hasDuplicates(ids: readonly unknown[]): boolean {
  return new Set(ids).size !== ids.length;
}
