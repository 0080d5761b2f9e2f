import type { PartitionEntry } from "./partition-state.ts";

/** One page of a group's committed entries. */
export interface KvLogPage {
  readonly entries: readonly PartitionEntry[];
  /** The LSN to read from next. */
  readonly next: number;
  /** The group's committed end when the page was read. */
  readonly committedEnd: number;
}

/**
 * Why an append did not succeed: FAILED (it will never be in the log), INDETERMINATE (it may be), or
 * anything else (treated like INDETERMINATE: the store never assumes an append is absent unless told).
 */
export interface KvAppendError {
  readonly code: string;
  readonly message: string;
}

/**
 * What the store needs from a PALF cluster: appends with refCsn, committed reads, GTS and watermark vouches.
 * The real one wraps a PalfClient (palfKvCluster); tests and the simulator give their own.
 */
export interface KvCluster {
  /** Appends to a group; resolves once committed. Rejects with an error whose `code` says FAILED or not. */
  append(
    group: number,
    payload: Uint8Array,
    refCsn: number,
  ): Promise<{ readonly lsn: number; readonly csn: number }>;
  /** Committed entries of a group from `fromLsn`. */
  read(group: number, fromLsn: number): Promise<KvLogPage>;
  /** A GTS timestamp above every one given before this call. */
  timestamp(): Promise<number>;
  /** Resolves once GTS has moved past `csn` (commit wait). */
  waitGtsAbove(csn: number): Promise<number>;
  /**
   * Watermark vouches: once a group's log is read up to `lsn` (every entry below it), no entry with CSN <= w
   * will ever be committed in it (DESIGN.md section 4). Returns an unsubscribe function.
   */
  onWatermark(fn: (group: number, w: number, lsn: number) => void): () => void;
  /**
   * The leader-answered read fence (optional): a watermark vouch `(w >= csn, lsn)` of the group, the same
   * kind `onWatermark` delivers, from a round the group's leader starts at once for it. `csn` is a GTS
   * timestamp already given out. Without it, the `leader` read fence waits for the watermark stream.
   */
  fence?(group: number, csn: number): Promise<{ readonly w: number; readonly lsn: number }>;
}

/** An append that did not succeed, with the code that says whether it may still be in the log. */
export class KvAppendFailure extends Error implements KvAppendError {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "KvAppendFailure";
  }
}

/** True when an append error says the entry will never be committed. */
export function appendFailed(err: unknown): boolean {
  return (err as KvAppendError | undefined)?.code === "FAILED";
}
