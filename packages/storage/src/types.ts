import type { WalFs } from "./wal-fs.ts";

/** One record handed to `ShardWal.submit`. Bytes are opaque to storage and copied on submit. */
export type WalRecord =
  /** A replicated group entry covering the group's virtual-log bytes [lsn, end). */
  | { kind: "entry"; group: number; lsn: number; end: number; pid: number; bytes: Uint8Array }
  /** Drop every entry of the group with lsn >= `lsn` (conflict with a higher proposal id). */
  | { kind: "truncate"; group: number; lsn: number }
  /** Small durable Paxos state of the group; the latest wins. */
  | { kind: "meta"; group: number; bytes: Uint8Array }
  /**
   * Base LSN: entries entirely below `lsn` are no longer needed; `bytes` is opaque base info. With `reset`
   * (a rebuild from another replica's snapshot) the group's log restarts at `lsn`: every entry it holds is
   * dropped, those above `lsn` too, and its next entry starts at `lsn`. Base and drop are one record, so a
   * crash never keeps one without the other.
   */
  | { kind: "base"; group: number; lsn: number; bytes: Uint8Array; reset?: boolean }
  /** The group is deleted; nothing of it survives recovery. */
  | { kind: "drop-group"; group: number };

export type WalRecordKind = WalRecord["kind"];

/** Options of `openShardWal`. There is deliberately no switch to skip fdatasync. */
export interface ShardWalOptions {
  /** The file system (default: node:fs); the whole-node simulator passes a simulated disk. */
  fs?: WalFs;
  /**
   * Test-only rule breach for the whole-node simulator's guard tests; never set in production.
   * `skipDirFsync`: a created or renamed segment file is not followed by an fsync of its directory, so a
   * crash may lose the file (and every record in it) although its records were fdatasynced.
   * `retrySync`: a failed fdatasync is retried, and a retry that succeeds counts the batch durable, although
   * the page cache may have dropped its dirty pages at the failure (they never reach the disk).
   */
  unsafe?: { readonly skipDirFsync?: boolean; readonly retrySync?: boolean };
  /** Size of one segment file (default 64 MiB). A record must fit in one segment. */
  segmentBytes?: number;
  /**
   * Upper bound on bytes of segment files on disk (at least two segments). A submit holding
   * entries that would go beyond it throws DISK_FULL; control records are always accepted.
   */
  diskBudgetBytes?: number;
  /** Bytes of entry payloads kept in the read cache (default 32 MiB). */
  cacheBytes?: number;
  /**
   * At most this many bytes are rewritten by one copy-forward pass that frees the oldest
   * segments from lagging or idle groups (default segmentBytes / 2).
   */
  copyForwardBytes?: number;
  /**
   * Copy-forward only frees segments at least this many segments behind the current one
   * (default 4): groups that advance their base free younger segments by themselves.
   */
  lagSegments?: number;
}

/** What `flush()` made durable. */
export interface FlushResult {
  /** Every record submitted before this flush sequence number was taken is durable. */
  seq: number;
  /** Records and bytes written by this flush (0 when there was nothing to write). */
  records: number;
  bytes: number;
}

/** An entry as listed by `groupState`. */
export interface EntryInfo {
  lsn: number;
  end: number;
  pid: number;
}

/** Everything the node needs to rebuild a replica after recovery. */
export interface GroupState {
  meta?: Uint8Array;
  base?: { lsn: number; bytes: Uint8Array };
  /** Live entries in lsn order, each starting at the previous one's end. */
  entries: EntryInfo[];
  /** Where the next entry must start; absent for a group that may start anywhere. */
  end?: number;
}

/** An entry with its payload, as yielded by `entries()`. */
export interface StoredEntry extends EntryInfo {
  bytes: Uint8Array;
}

/** Which groups keep the oldest segment alive. */
export interface SegmentHolders {
  generation: number;
  file: string;
  groups: number[];
}

/** What `recycle()` did. */
export interface RecycleResult {
  /** Groups whose live records were rewritten into the current segment. */
  copiedGroups: number[];
  /** Generations of segment files deleted (or renamed for reuse). */
  deletedSegments: number[];
}

export interface WalStats {
  bytesOnDisk: number;
  segments: number;
  flushes: number;
  /** Records submitted (including internal copy-forward records) since open. */
  records: number;
  bytesWritten: number;
  durableSeq: number;
  groups: number;
  cacheHits: number;
  cacheMisses: number;
  /** A flush is held because its write met ENOSPC (retried until space returns; nothing of it acknowledged). */
  waitingForSpace: boolean;
  /** Writes retried after ENOSPC since open. */
  noSpaceRetries: number;
  /** What recovery cut off the newest segment at open (a torn tail), if anything: kept for status. */
  tornTail?: TornTailCut;
}

/** A torn tail recovery cut: the segment file, the offset it was cut at and the bytes dropped after it. */
export interface TornTailCut {
  file: string;
  offset: number;
  droppedBytes: number;
}
