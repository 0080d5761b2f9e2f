import type { Runtime } from "@palf/transport";

/**
 * A client's identity for idempotent appends: a random 48-bit id (from the runtime's randomness) (exact in JavaScript numbers and msgpack)
 * and one sequence number per append, unique over all groups for the client's lifetime. A retry resends
 * the same (id, seq), so the leader (or its successor, from its log) recognises it and answers with the
 * original result instead of appending twice. Seqs are never reused, so a node must match (id, seq)
 * exactly: they are increasing but not contiguous within one group.
 */
export class ClientSession {
  readonly id: number;
  private seq = 0;

  constructor(id: number) {
    if (!Number.isSafeInteger(id) || id < 0)
      throw new Error(`session id ${id} is not a natural number below 2^53`);
    this.id = id;
  }

  /** The next append's seq (1, 2, 3...). */
  nextSeq(): number {
    return ++this.seq;
  }
}

/** A random 48-bit session id. */
export function randomSessionId(rt: Runtime): number {
  return Math.floor(rt.random() * 2 ** 48);
}
