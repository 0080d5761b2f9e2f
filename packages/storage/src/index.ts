/**
 * @palf/storage: the durable shard WAL. All groups of a shard append to one segmented log,
 * so one fdatasync per loop turn makes the records of every group durable (group commit
 * across groups). Storage knows nothing of PALF's types: it keeps opaque bytes tagged with
 * a group id and a few numbers (entries by LSN, truncates, Paxos meta, base LSN, group
 * drops), indexes them per group in memory, reads entries back synchronously through a
 * bounded cache, recovers after a crash (cutting a torn tail, refusing real corruption),
 * recycles segments no group needs and enforces a disk budget. All file access goes through
 * a small WalFs interface (node:fs by default), so the whole-node simulator can run the WAL
 * on a simulated disk.
 */
export { recordBytes } from "./disk-budget.ts";
export { WalError, type WalErrorCode } from "./errors.ts";
export { openShardWal, type ShardWal } from "./shard-wal.ts";
export type {
  EntryInfo,
  FlushResult,
  GroupState,
  RecycleResult,
  SegmentHolders,
  ShardWalOptions,
  StoredEntry,
  TornTailCut,
  WalRecord,
  WalRecordKind,
  WalStats,
} from "./types.ts";
export {
  type FsCallback,
  readSmallFile,
  realWalFs,
  type WalFs,
  writeAll,
  writeSmallFileDurably,
} from "./wal-fs.ts";
export type { ShardWalSpace } from "./wal-space.ts";
