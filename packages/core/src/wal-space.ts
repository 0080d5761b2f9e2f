/**
 * Room in the host's WAL, reserved before an LSN is assigned (DESIGN.md, rules that keep it safe: a write
 * error after an LSN was assigned takes the replica out of service, so check the disk budget before
 * assigning). A leader reserves an append's bytes before it gives the append its LSN, and every replica
 * reserves the entries it is about to take into its log (a push, a fetched log, a config or StartWorking
 * entry). A refusal is back-pressure, never a failed write: the append is answered BACKPRESSURE, a push is
 * dropped unacked (its leader resends it later), a config change or a StartWorking waits.
 *
 * Bytes are log bytes: an entry's encoded size, plus GROUP_HEADER_BYTES for the group entry it opens, so what a
 * replica reserved for a group entry equals its size in the log (end - lsn) when it asks to persist it; the
 * host ends a reservation there. Records that must always be written (promises and ballots, bases,
 * truncations) reserve nothing: the host keeps a headroom for them, which `control` entries may also use.
 */
export interface WalSpace {
  /** Room for `bytes` more log bytes (`control`: a config or StartWorking entry, which may use the headroom)? */
  reserve(bytes: number, control: boolean): boolean;
  /** Gives back log bytes reserved for entries that will never be persisted (a dropped open group entry). */
  release(bytes: number): void;
}
