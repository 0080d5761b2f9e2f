/**
 * The shard WAL: one segmented log that every group of a shard appends to, so that one
 * write and one fdatasync per loop turn make the records of many groups durable.
 *
 * Life of a record: `submit` validates it, encodes it into the open write batch and updates
 * the group's index at once (reads see it immediately, pointing into the batch). `flush`
 * takes the open batch, writes it with one write and one fdatasync, then points the index
 * slots at the file and counts them as live in their segment. Records submitted while a
 * flush runs go to the next batch (group commit); flushes never overlap.
 *
 * This file holds the submit path and the flush pipeline; input checks are in record-check.ts, the index
 * updates in record-index.ts, segment lifecycle in segment-files.ts, recycling in copy-forward.ts and reads
 * through the cache in cached-reads.ts.
 */
import path from "node:path";
import { CachedReads } from "./cached-reads.ts";
import { pickCopyForward, writeSnapshot } from "./copy-forward.ts";
import { checkDiskBudget, type DiskUsage, projectedDiskBytes } from "./disk-budget.ts";
import { WalError } from "./errors.ts";
import type { GroupIndex, Release } from "./group-index.ts";
import { checkedRecordSize } from "./record-check.ts";
import { applyRecord, placeWritten } from "./record-index.ts";
import { recover } from "./recovery.ts";
import { SegmentFiles } from "./segment-files.ts";
import { SegmentWriter } from "./segment-writer.ts";
import type {
  FlushResult,
  GroupState,
  RecycleResult,
  SegmentHolders,
  ShardWalOptions,
  StoredEntry,
  TornTailCut,
  WalRecord,
  WalStats,
} from "./types.ts";
import { realWalFs, type WalFs } from "./wal-fs.ts";
import type { Segment } from "./wal-segment.ts";
import { defaultHeadroom, ShardWalSpace } from "./wal-space.ts";
import { WriteBatch } from "./write-batch.ts";

const MiB = 1024 * 1024;
const DEFAULT_SEGMENT_BYTES = 64 * MiB;
const DEFAULT_CACHE_BYTES = 32 * MiB;
const DEFAULT_LAG_SEGMENTS = 4;
const MIN_SEGMENT_BYTES = 4096;
/** What submit returns when it refused no group (shared: nothing is ever added to it). */
const NONE_REFUSED: ReadonlyMap<number, WalError> = new Map();
const MAX_SEGMENT_BYTES = 2 ** 31;

/** Opens the WAL in `dir`, creating it or recovering what is there. */
export async function openShardWal(dir: string, options: ShardWalOptions = {}): Promise<ShardWal> {
  const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  if (
    !Number.isInteger(segmentBytes) ||
    segmentBytes < MIN_SEGMENT_BYTES ||
    segmentBytes > MAX_SEGMENT_BYTES
  ) {
    throw new RangeError(`segmentBytes must be an integer in [${MIN_SEGMENT_BYTES}, ${MAX_SEGMENT_BYTES}]`);
  }
  const budget = options.diskBudgetBytes;
  // Recycling can free sealed segments only; the current one always stays.
  if (budget !== undefined && !(budget >= 2 * segmentBytes)) {
    throw new RangeError("diskBudgetBytes must be at least two segments");
  }
  const wfs = options.fs ?? realWalFs;
  const created = !wfs.exists(dir);
  wfs.mkdirp(dir);
  if (created) wfs.fsyncDirSync(path.dirname(path.resolve(dir)));
  const recovered = recover(dir, wfs);
  const wal = new ShardWal(dir, {
    fs: wfs,
    skipDirFsync: options.unsafe?.skipDirFsync === true,
    retrySync: options.unsafe?.retrySync === true,
    segmentBytes,
    budget,
    cacheBytes: options.cacheBytes ?? DEFAULT_CACHE_BYTES,
    copyForwardBytes: options.copyForwardBytes ?? Math.floor(segmentBytes / 2),
    lagSegments: options.lagSegments ?? DEFAULT_LAG_SEGMENTS,
    segments: recovered.segments,
    groups: recovered.groups,
    tornTail: recovered.cutTail,
  });
  await wal.ensureWritableSegment();
  return wal;
}

interface Setup {
  fs: WalFs;
  skipDirFsync: boolean;
  retrySync: boolean;
  segmentBytes: number;
  budget: number | undefined;
  cacheBytes: number;
  copyForwardBytes: number;
  lagSegments: number;
  segments: Segment[];
  groups: Map<number, GroupIndex>;
  tornTail: TornTailCut | undefined;
}

export class ShardWal {
  readonly dir: string;
  private readonly fs: WalFs;
  private readonly segmentBytes: number;
  private readonly budget: number | undefined;
  private readonly copyForwardBytes: number;
  private readonly lagSegments: number;
  private readonly segments: SegmentFiles;
  private readonly groupIndex: Map<number, GroupIndex>;
  private readonly reads: CachedReads;

  private open: WriteBatch;
  private inflight: WriteBatch | undefined;
  private spare: WriteBatch | undefined;
  private durable = 0;
  /** Serializes every disk operation (flushes, deletions). */
  private chain: Promise<unknown> = Promise.resolve();
  private tasks = 0;
  /** A flush that is queued behind the running one; it will take whatever is open then. */
  private queuedFlush: Promise<FlushResult> | undefined;
  /** The latest flush started or queued; it covers everything submitted before it. */
  private lastFlush: Promise<FlushResult> | undefined;
  private failure: WalError | undefined;
  private closed = false;
  /**
   * Bytes the host has promised to submit soon (entries whose LSNs it assigned after reserving room in this
   * WAL's room, see `room()`). Every budget check counts them as queued, so copy-forward never takes their
   * room; the room lowers this by what a batch uses before the batch is submitted.
   */
  private held = 0;
  /** What recovery cut off at open (a torn tail of an unacknowledged write), for status and the open log. */
  readonly tornTail: TornTailCut | undefined;
  private readonly counters = { flushes: 0, records: 0, bytesWritten: 0 };
  private readonly writer: SegmentWriter;

  /** Use `openShardWal`. */
  constructor(dir: string, setup: Setup) {
    this.dir = dir;
    this.fs = setup.fs;
    this.segmentBytes = setup.segmentBytes;
    this.budget = setup.budget;
    this.tornTail = setup.tornTail;
    this.copyForwardBytes = setup.copyForwardBytes;
    this.lagSegments = setup.lagSegments;
    this.segments = new SegmentFiles(dir, setup.fs, setup.skipDirFsync, () => this.durable, setup.segments);
    this.writer = new SegmentWriter(setup.fs, this.segments, setup.segmentBytes, setup.retrySync);
    this.groupIndex = setup.groups;
    this.reads = new CachedReads(
      setup.fs,
      this.segments,
      (seq) => (seq === this.open.seq ? this.open : this.inflight),
      setup.cacheBytes,
    );
    this.open = new WriteBatch(1, setup.segments.at(-1)?.generation ?? 1);
  }

  /** Creates the first segment, or a new one when the newest was sealed before a crash. */
  async ensureWritableSegment(): Promise<void> {
    await this.segments.ensureWritable();
    this.open.generation = this.current.generation;
  }

  private get current(): Segment {
    return this.segments.current;
  }

  /** Flush sequence number of the last durable flush. */
  get durableSeq(): number {
    return this.durable;
  }

  /** The flush sequence number that will make records submitted now durable. */
  get nextSeq(): number {
    return this.open.seq;
  }

  // ---------------------------------------------------------------- submit

  /**
   * Queues records in memory (synchronous, cheap) and returns the groups it refused. A record of the wrong
   * shape, or too large for a segment, refuses its group: none of that group's records in the array are
   * queued, and the other groups' records go on (a host's batch holds many groups, and one group's bad record
   * must not take the others out of service). DISK_FULL is checked for the accepted records before anything
   * is queued, and only when they hold an entry; it throws for the whole array. LSN order is checked record by
   * record: if one does not follow, the records before it stay queued and it throws.
   * Reads see queued records at once; they are durable once a flush covering them resolves.
   */
  submit(records: readonly WalRecord[]): ReadonlyMap<number, WalError> {
    this.assertUsable();
    let bytes = 0;
    let entries = false;
    let refused: Map<number, WalError> | undefined;
    for (const r of records) {
      try {
        bytes += checkedRecordSize(r, this.segmentBytes);
      } catch (err) {
        // Not a record at all: no group to refuse, so the caller's whole array is refused.
        if (!(err instanceof WalError) || r === null || typeof r !== "object") throw err;
        refused ??= new Map();
        if (!refused.has(r.group)) refused.set(r.group, err);
        continue;
      }
      if (r.kind === "entry") entries = true;
    }
    let accepted = records;
    if (refused !== undefined) {
      const out = refused;
      accepted = records.filter((r) => !out.has(r.group));
      bytes = 0;
      entries = false;
      for (const r of accepted) {
        bytes += checkedRecordSize(r, this.segmentBytes);
        if (r.kind === "entry") entries = true;
      }
    }
    // Only entries are refused: truncate, meta, base and drop-group records are small and are
    // what a full WAL needs to be trimmed (and a promise must be persistable to stay safe).
    if (entries) checkDiskBudget(this.budget, this.usage(), bytes);
    for (const r of accepted) {
      applyRecord(this.groupIndex, this.open, r, this.release);
      this.counters.records++;
    }
    return refused ?? NONE_REFUSED;
  }

  /**
   * A written record stopped being live. The segment may only go once the record that caused
   * this (queued in the open batch) is durable, hence the open batch's seq.
   */
  private readonly release: Release = (group, generation) => {
    if (generation > 0) this.segments.get(generation)?.release(group, this.open.seq);
  };

  private usage(): DiskUsage {
    const cur = this.current;
    return {
      diskBytes: this.segments.diskBytes,
      currentWriteOffset: cur.writeOffset,
      currentFileSize: cur.fileSize,
      pendingBytes: this.open.length + (this.inflight?.length ?? 0) + this.held,
    };
  }

  /** Bytes held by this WAL's room for entries whose LSNs are assigned but which are not yet submitted. */
  get heldBytes(): number {
    return this.held;
  }

  /**
   * The room the replicas reserve in before they assign LSNs (core's WalSpace), within `budget` minus a
   * headroom for records that are never refused. The WAL's own `diskBudgetBytes` stays the last word at submit.
   */
  room(budget: number, headroom: number = defaultHeadroom(budget)): ShardWalSpace {
    return new ShardWalSpace(
      {
        projectedBytes: (adding) => this.projectedBytes(adding),
        hold: (bytes) => {
          this.held = Math.max(0, this.held + bytes);
        },
      },
      budget,
      headroom,
    );
  }

  /** The disk budget (`diskBudgetBytes`), if any. */
  get budgetBytes(): number | undefined {
    return this.budget;
  }

  /**
   * Bytes on disk once everything queued, held and `adding` more are written: what the budget check of
   * a submit compares with the budget (see projectedDiskBytes).
   */
  projectedBytes(adding = 0): number {
    return projectedDiskBytes(this.usage(), adding);
  }

  // ---------------------------------------------------------------- flush

  /**
   * Makes everything submitted so far durable with one write and one fdatasync. A call
   * while a flush runs waits for it and then covers everything queued meanwhile; concurrent
   * callers share that next flush. A failed write or fdatasync is fatal: the WAL is out of
   * service and every later call throws (fsync is never retried: after a failed fsync the
   * page cache may already have dropped the dirty pages).
   */
  flush(): Promise<FlushResult> {
    if (this.failure !== undefined || this.closed) return Promise.reject(this.unusable());
    if (this.queuedFlush !== undefined) return this.queuedFlush;
    if (this.open.records === 0) {
      return this.lastFlush ?? Promise.resolve({ seq: this.durable, records: 0, bytes: 0 });
    }
    // When nothing runs, the flush starts now and takes the open batch synchronously;
    // otherwise it is queued and takes whatever is open when its turn comes.
    const startsNow = this.tasks === 0;
    const p = this.serial(() => this.runFlush());
    if (!startsNow) this.queuedFlush = p;
    this.lastFlush = p;
    const clear = () => {
      if (this.lastFlush === p) this.lastFlush = undefined;
    };
    p.then(clear, clear);
    return p;
  }

  /**
   * Runs disk operations one at a time. When nothing runs, `fn` starts synchronously, so a
   * flush takes the open batch at the moment it is called.
   */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run =
      this.tasks === 0
        ? fn()
        : this.chain.then(() => {
            if (this.failure !== undefined) throw this.failure;
            return fn();
          });
    this.tasks++;
    const done = () => {
      this.tasks--;
    };
    this.chain = run.then(done, done);
    return run;
  }

  private async runFlush(): Promise<FlushResult> {
    this.queuedFlush = undefined;
    const batch = this.open;
    this.inflight = batch;
    this.open = this.newBatch(batch.seq + 1);
    let rolledOver = false;
    const seg = this.current;
    const from = seg.writeOffset;
    try {
      rolledOver = await this.writer.write(batch);
      await this.writer.sync();
    } catch (err) {
      // After a failed write or fdatasync the batch's bytes can stay in the page cache, marked clean but never
      // written (Linux): a restarted process would read them back and take them for durable records. Cut them
      // off (best effort, and no fsync: that would be a retry). A rollover inside the failed batch is left as is.
      if (this.current === seg) {
        try {
          this.fs.ftruncateSync(seg.fd, from);
        } catch {
          // The WAL is out of service either way.
        }
      }
      throw this.fail(err);
    }
    this.durable = batch.seq;
    this.inflight = undefined;
    placeWritten(this.groupIndex, batch, this.segments);
    this.counters.flushes++;
    this.counters.bytesWritten += batch.length;
    const result: FlushResult = { seq: batch.seq, records: batch.records, bytes: batch.length };
    this.spare = batch;
    // A segment was sealed: time to free groups that lag behind (their copies go out with
    // the next flush; the segments they free are deleted at the next rollover or recycle).
    if (rolledOver) this.copyForward();
    return result;
  }

  private newBatch(seq: number): WriteBatch {
    const spare = this.spare;
    if (spare === undefined) return new WriteBatch(seq, this.current.generation);
    this.spare = undefined;
    spare.reset(seq, this.current.generation);
    return spare;
  }

  private fail(err: unknown): WalError {
    if (this.failure === undefined) {
      const reason = err instanceof Error ? err.message : String(err);
      this.failure = new WalError(
        "FAILED",
        `WAL in ${this.dir} is out of service after an I/O error: ${reason}`,
        {
          cause: err,
        },
      );
    }
    return this.failure;
  }

  private unusable(): WalError {
    return this.failure ?? new WalError("CLOSED", `WAL in ${this.dir} is closed`);
  }

  private assertUsable(): void {
    if (this.failure !== undefined || this.closed) throw this.unusable();
  }

  // ---------------------------------------------------------------- recycling

  /**
   * Frees disk space: copies groups that pin old segments forward (see copy-forward.ts),
   * flushes, and deletes every oldest segment nothing needs any more.
   */
  async recycle(): Promise<RecycleResult> {
    this.assertUsable();
    const copiedGroups = this.copyForward();
    await this.flush();
    const deletedSegments = await this.serial(() =>
      this.segments.deleteFreed().catch((e) => Promise.reject(this.fail(e))),
    );
    return { copiedGroups, deletedSegments };
  }

  /** Queues copy-forward snapshots of the groups pinning lagging segments; returns them. */
  private copyForward(): number[] {
    const pick = pickCopyForward(
      this.segments.list,
      this.groupIndex,
      this.lagSegments,
      this.copyForwardBytes,
    );
    if (pick.groups.length === 0) return [];
    try {
      checkDiskBudget(this.budget, this.usage(), pick.bytes);
    } catch {
      return []; // no room to copy now; deleting freed segments first will make room
    }
    const read = (generation: number, position: number, size: number) =>
      this.reads.readAt(generation, position, size, false);
    for (const g of pick.groups) this.counters.records += writeSnapshot(this.open, g, this.release, read);
    return pick.groups.map((g) => g.group).sort((a, b) => a - b);
  }

  /** The oldest segment and the groups that keep it on disk. */
  oldestSegmentHolders(): SegmentHolders {
    this.assertUsable();
    const s = this.segments.oldest;
    return { generation: s.generation, file: s.path, groups: [...s.live.keys()].sort((a, b) => a - b) };
  }

  // ---------------------------------------------------------------- reads

  /**
   * Payload of the entry of `group` starting at `lsn`, or undefined. Synchronous: the read
   * cache first, then the segment file. The result is a small buffer of its own (never a view
   * of a batch or a file chunk); treat it as read-only, it may be shared with the cache.
   */
  readEntry(group: number, lsn: number): Uint8Array | undefined {
    this.assertUsable();
    const g = this.groupIndex.get(group);
    if (g === undefined) return undefined;
    const i = g.find(lsn);
    if (i < 0) return undefined;
    return this.reads.readAt(g.generation[i]!, g.position[i]!, g.size[i]!, true);
  }

  /** Live entries of `group` starting at or after `fromLsn`, in lsn order, read lazily. */
  *entries(group: number, fromLsn = 0): IterableIterator<StoredEntry> {
    let from = fromLsn;
    for (;;) {
      this.assertUsable();
      const g = this.groupIndex.get(group);
      if (g === undefined) return;
      // Looked up again at every step, so a truncate between two steps is respected.
      const i = g.lowerBound(from);
      if (i >= g.tail) return;
      const lsn = g.lsn[i]!;
      const entry: StoredEntry = {
        lsn,
        end: g.end[i]!,
        pid: g.pid[i]!,
        bytes: this.reads.readAt(g.generation[i]!, g.position[i]!, g.size[i]!, true),
      };
      from = lsn + 1;
      yield entry;
    }
  }

  /** State of one group for rebuilding its replica, or undefined if the WAL has none. */
  groupState(group: number): GroupState | undefined {
    this.assertUsable();
    const g = this.groupIndex.get(group);
    if (g === undefined) return undefined;
    const entries = [];
    for (let i = g.head; i < g.tail; i++) entries.push({ lsn: g.lsn[i]!, end: g.end[i]!, pid: g.pid[i]! });
    const state: GroupState = { entries };
    if (g.meta !== undefined) state.meta = g.meta.bytes;
    if (g.base !== undefined) state.base = { lsn: g.base.lsn, bytes: g.base.bytes };
    if (g.next !== undefined) state.end = g.next;
    return state;
  }

  /** Ids of every group the WAL holds something for, ascending. */
  groups(): number[] {
    this.assertUsable();
    return [...this.groupIndex.keys()].sort((a, b) => a - b);
  }

  stats(): WalStats {
    return {
      bytesOnDisk: this.segments.diskBytes,
      segments: this.segments.list.length,
      flushes: this.counters.flushes,
      records: this.counters.records,
      bytesWritten: this.counters.bytesWritten,
      durableSeq: this.durable,
      groups: this.groupIndex.size,
      cacheHits: this.reads.hits,
      cacheMisses: this.reads.misses,
      waitingForSpace: this.writer.waitingForSpace,
      noSpaceRetries: this.writer.noSpaceRetries,
      ...(this.tornTail ? { tornTail: this.tornTail } : {}),
    };
  }

  /** Flushes what is queued (unless the WAL failed) and closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.writer.closing = true;
    if (this.failure === undefined) await this.flush();
    await this.chain;
    this.closed = true;
    this.segments.closeAll();
    this.reads.clear();
  }
}
