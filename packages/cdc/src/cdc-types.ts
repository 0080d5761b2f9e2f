/** One committed entry of one group, in the cross-group commit order. */
export interface CdcEntry {
  readonly group: number;
  readonly lsn: number;
  readonly csn: number;
  readonly payload: Uint8Array;
}

/**
 * Where a reader stands: per group, the LSN from which nothing has been delivered yet. Store it after
 * processing what came before it; a reader opened from it delivers everything after, in order (at least
 * once: de-duplicate by (group, lsn) if a checkpoint was stored late). JSON-safe.
 */
export interface CdcCheckpoint {
  readonly groups: Readonly<Record<string, number>>;
  /** CSN of the last entry delivered (for humans and monitoring). */
  readonly csn: number;
}

export interface CdcOptions {
  /** Read these groups. */
  readonly groups?: readonly number[];
  /**
   * Read every data group of the cluster, as the nodes' watermark batches name them. The frontier then also
   * waits for a batch from every node the client knows (a node that is down holds it back: a group it
   * alone might lead could otherwise be missed). Prefer explicit groups where the set is known.
   */
  readonly all?: boolean;
  readonly from?: CdcCheckpoint;
  /**
   * A named, durable cursor (see @palf/client's Cursors): the reader resumes from its position (else from
   * `from`), and `commit()` stores the reader's checkpoint in it. Retention keeps what it has not consumed.
   */
  readonly cursor?: string;
  /** Read-ahead per group is paused while this many entries wait for the frontier (default 100,000). */
  readonly maxBuffered?: number;
  /** Entries per read request (default 1,000). */
  readonly pageEntries?: number;
}
