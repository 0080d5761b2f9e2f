/**
 * The shard WAL: one segmented log that every group of a shard appends to, so that one
 * write and one fdatasync per loop turn make the records of many groups durable.
 *
 * Life of a record: `submit` validates it, encodes it into the open write batch and updates
 * the group's index at once (reads see it immediately, pointing into the batch). `flush`
 * takes the open batch, writes it with one write and one fdatasync, then points the index
 * slots at the file and counts them as live in their segment. Records submitted while a
 * flush runs go to the next batch (group commit); flushes never overlap.
 */
import path from "node:path";
import { LRUCache } from "lru-cache";
import { pickCopyForward } from "./copy-forward.ts";
import { checkDiskBudget, type DiskUsage, projectedDiskBytes } from "./disk-budget.ts";
import { WalError } from "./errors.ts";
import { fdatasync, fsyncDir, writeAll } from "./file-io.ts";
import { GroupIndex, type Release } from "./group-index.ts";
import {
  copyBytes,
  encodeRecord,
  FLAG_COPY,
  FLAG_RESET,
  HEADER_BYTES,
  Kind,
  recordSize,
  SEAL_BYTES,
  setGeneration,
  validRecordAt,
  viewOf,
} from "./record-codec.ts";
import { recover } from "./recovery.ts";
import type {
  FlushResult,
  GroupState,
  RecycleResult,
  SegmentHolders,
  ShardWalOptions,
  StoredEntry,
  WalRecord,
  WalStats,
} from "./types.ts";
import { realWalFs, type WalFs } from "./wal-fs.ts";
import { Segment, segmentFileName } from "./wal-segment.ts";
import { LocatorKind, WriteBatch } from "./write-batch.ts";

const MiB = 1024 * 1024;
const DEFAULT_SEGMENT_BYTES = 64 * MiB;
const DEFAULT_CACHE_BYTES = 32 * MiB;
const DEFAULT_LAG_SEGMENTS = 4;
const MIN_SEGMENT_BYTES = 4096;
const MAX_SEGMENT_BYTES = 2 ** 31;
const MAX_GROUP = 0xffffffff;

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
}

export class ShardWal {
  readonly dir: string;
  private readonly fs: WalFs;
  /** ShardWalOptions.unsafe.skipDirFsync (test-only). */
  private readonly skipDirFsync: boolean;
  /** ShardWalOptions.unsafe.retrySync (test-only). */
  private readonly retrySync: boolean;
  private readonly segmentBytes: number;
  private readonly budget: number | undefined;
  private readonly copyForwardBytes: number;
  private readonly lagSegments: number;
  /** Oldest first; the last one is the one appends go to. */
  private readonly segments: Segment[];
  private readonly byGeneration = new Map<number, Segment>();
  private readonly groupIndex: Map<number, GroupIndex>;
  private readonly cache: LRUCache<string, Uint8Array>;

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
  private diskBytes = 0;
  /**
   * Bytes the host has promised to submit soon (entries whose LSNs it assigned after reserving room against
   * `projectedBytes`). Every budget check counts them as queued, so copy-forward never takes their room; the
   * host lowers this by what a batch uses before it submits the batch.
   */
  heldBytes = 0;
  private readonly counters = { flushes: 0, records: 0, bytesWritten: 0, cacheHits: 0, cacheMisses: 0 };

  /** Use `openShardWal`. */
  constructor(dir: string, setup: Setup) {
    this.dir = dir;
    this.fs = setup.fs;
    this.skipDirFsync = setup.skipDirFsync;
    this.retrySync = setup.retrySync;
    this.segmentBytes = setup.segmentBytes;
    this.budget = setup.budget;
    this.copyForwardBytes = setup.copyForwardBytes;
    this.lagSegments = setup.lagSegments;
    this.segments = setup.segments;
    for (const s of this.segments) {
      this.byGeneration.set(s.generation, s);
      this.diskBytes += s.fileSize;
    }
    this.groupIndex = setup.groups;
    this.cache = new LRUCache<string, Uint8Array>({
      maxSize: Math.max(1, setup.cacheBytes),
      sizeCalculation: (v) => Math.max(1, v.buffer.byteLength),
    });
    this.open = new WriteBatch(1, this.segments.at(-1)?.generation ?? 1);
  }

  /** Creates the first segment, or a new one when the newest was sealed before a crash. */
  async ensureWritableSegment(): Promise<void> {
    const last = this.segments.at(-1);
    if (last !== undefined && !last.sealed) return;
    this.addSegment(await this.createSegment((last?.generation ?? 0) + 1));
    await this.syncDir();
    this.open.generation = this.current.generation;
  }

  private get current(): Segment {
    return this.segments[this.segments.length - 1]!;
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
   * Queues records in memory (synchronous, cheap). Shape and size errors and DISK_FULL are
   * checked for the whole array before anything is queued; DISK_FULL only when the array
   * holds an entry. LSN order is checked record by
   * record: if one does not follow, the records before it stay queued and it throws.
   * Reads see queued records at once; they are durable once a flush covering them resolves.
   */
  submit(records: readonly WalRecord[]): void {
    this.assertUsable();
    let bytes = 0;
    let entries = false;
    for (const r of records) {
      bytes += this.encodedSize(r);
      if (r.kind === "entry") entries = true;
    }
    // Only entries are refused: truncate, meta, base and drop-group records are small and are
    // what a full WAL needs to be trimmed (and a promise must be persistable to stay safe).
    if (entries) checkDiskBudget(this.budget, this.usage(), bytes);
    for (const r of records) this.apply(r);
  }

  private encodedSize(r: WalRecord): number {
    if (r === null || typeof r !== "object")
      throw new WalError("INVALID_RECORD", "a record must be an object");
    checkGroup(r.group);
    let payload = 0;
    switch (r.kind) {
      case "entry":
        checkLsn("lsn", r.lsn);
        checkLsn("end", r.end);
        checkLsn("pid", r.pid);
        if (r.end <= r.lsn)
          throw new WalError("INVALID_RECORD", `entry end ${r.end} must be above its lsn ${r.lsn}`);
        payload = checkBytes(r.bytes);
        break;
      case "truncate":
        checkLsn("lsn", r.lsn);
        break;
      case "meta":
        payload = checkBytes(r.bytes);
        break;
      case "base":
        checkLsn("lsn", r.lsn);
        if (r.reset !== undefined && typeof r.reset !== "boolean")
          throw new WalError("INVALID_RECORD", "reset must be a boolean");
        payload = checkBytes(r.bytes);
        break;
      case "drop-group":
        break;
      default:
        throw new WalError(
          "INVALID_RECORD",
          `unknown record kind ${JSON.stringify((r as { kind: unknown }).kind)}`,
        );
    }
    const size = HEADER_BYTES + payload;
    if (size > this.segmentBytes - SEAL_BYTES) {
      throw new WalError(
        "TOO_LARGE",
        `a ${r.kind} record of ${size} bytes cannot fit in a ${this.segmentBytes}-byte segment`,
      );
    }
    return size;
  }

  private apply(r: WalRecord): void {
    const batch = this.open;
    const seq = batch.seq;
    switch (r.kind) {
      case "entry": {
        let g = this.groupIndex.get(r.group);
        if (g?.next !== undefined && r.lsn !== g.next) {
          throw new WalError(
            "LSN_NOT_FOLLOWING",
            `entry of group ${r.group} at lsn ${r.lsn}; its log ends at ${g.next}`,
          );
        }
        if (g === undefined) g = this.createGroup(r.group);
        const size = HEADER_BYTES + r.bytes.byteLength;
        const at = batch.append(Kind.entry, 0, r.group, r.lsn, r.end, r.pid, r.bytes, size);
        batch.locate(LocatorKind.entry, r.group, r.lsn, at);
        g.push(r.lsn, r.end, r.pid, -seq, at, size);
        break;
      }
      case "truncate": {
        const g = this.groupIndex.get(r.group);
        if (g?.base !== undefined && r.lsn < g.base.lsn) {
          throw new WalError(
            "INVALID_RECORD",
            `truncate of group ${r.group} at ${r.lsn} is below its base ${g.base.lsn}`,
          );
        }
        batch.append(Kind.truncate, 0, r.group, r.lsn, 0, 0, undefined, HEADER_BYTES);
        g?.truncateFrom(r.lsn, this.release);
        break;
      }
      case "meta": {
        const g = this.groupIndex.get(r.group) ?? this.createGroup(r.group);
        const size = HEADER_BYTES + r.bytes.byteLength;
        const at = batch.append(Kind.meta, 0, r.group, 0, 0, 0, r.bytes, size);
        batch.locate(LocatorKind.meta, r.group, 0, at);
        g.setMeta({ bytes: copyBytes(r.bytes), generation: -seq, position: at, size }, this.release);
        break;
      }
      case "base": {
        const existing = this.groupIndex.get(r.group);
        if (existing?.base !== undefined && r.lsn < existing.base.lsn) {
          throw new WalError(
            "INVALID_RECORD",
            `base of group ${r.group} moves back to ${r.lsn} from ${existing.base.lsn}`,
          );
        }
        const g = existing ?? this.createGroup(r.group);
        const size = HEADER_BYTES + r.bytes.byteLength;
        const reset = r.reset === true;
        const at = batch.append(Kind.base, reset ? FLAG_RESET : 0, r.group, r.lsn, 0, 0, r.bytes, size);
        batch.locate(LocatorKind.base, r.group, r.lsn, at);
        g.setBase(
          { lsn: r.lsn, bytes: copyBytes(r.bytes), generation: -seq, position: at, size },
          this.release,
          reset,
        );
        break;
      }
      case "drop-group": {
        batch.append(Kind.dropGroup, 0, r.group, 0, 0, 0, undefined, HEADER_BYTES);
        const g = this.groupIndex.get(r.group);
        if (g !== undefined) {
          g.releaseAll(this.release);
          this.groupIndex.delete(r.group);
        }
        break;
      }
    }
    this.counters.records++;
  }

  private createGroup(group: number): GroupIndex {
    const g = new GroupIndex(group);
    this.groupIndex.set(group, g);
    return g;
  }

  /**
   * A written record stopped being live. The segment may only go once the record that caused
   * this (queued in the open batch) is durable, hence the open batch's seq.
   */
  private readonly release: Release = (group, generation) => {
    if (generation > 0) this.byGeneration.get(generation)?.release(group, this.open.seq);
  };

  private usage(): DiskUsage {
    const cur = this.current;
    return {
      diskBytes: this.diskBytes,
      currentWriteOffset: cur.writeOffset,
      currentFileSize: cur.fileSize,
      pendingBytes: this.open.length + (this.inflight?.length ?? 0) + this.heldBytes,
    };
  }

  /** The disk budget (`diskBudgetBytes`), if any. */
  get budgetBytes(): number | undefined {
    return this.budget;
  }

  /**
   * Bytes on disk once everything queued, `heldBytes` and `adding` more are written: what the budget check of
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
      rolledOver = await this.writeBatch(batch);
      await this.syncCurrent();
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
    this.placeWritten(batch);
    this.counters.flushes++;
    this.counters.bytesWritten += batch.length;
    const result: FlushResult = { seq: batch.seq, records: batch.records, bytes: batch.length };
    this.spare = batch;
    // A segment was sealed: time to free groups that lag behind (their copies go out with
    // the next flush; the segments they free are deleted at the next rollover or recycle).
    if (rolledOver) this.copyForward();
    return result;
  }

  private async syncCurrent(): Promise<void> {
    try {
      await fdatasync(this.fs, this.current.fd);
    } catch (err) {
      if (!this.retrySync) throw err;
      // The test-only breach: a second fdatasync that succeeds proves nothing about the pages the first lost.
      await fdatasync(this.fs, this.current.fd);
    }
  }

  private newBatch(seq: number): WriteBatch {
    const spare = this.spare;
    if (spare === undefined) return new WriteBatch(seq, this.current.generation);
    this.spare = undefined;
    spare.reset(seq, this.current.generation);
    return spare;
  }

  /** Writes the batch in as few writes as segment boundaries allow; true if it rolled over. */
  private async writeBatch(batch: WriteBatch): Promise<boolean> {
    let rolledOver = false;
    let from = 0;
    while (from < batch.length) {
      const seg = this.current;
      const room = this.segmentBytes - SEAL_BYTES - seg.writeOffset;
      let to = from;
      if (batch.length - from <= room) to = batch.length;
      else {
        for (let n = recordSize(batch.view, to); to < batch.length && to + n - from <= room; ) {
          to += n;
          if (to < batch.length) n = recordSize(batch.view, to);
        }
      }
      if (to === from) {
        await this.rollOver();
        rolledOver = true;
        continue;
      }
      if (batch.generation !== seg.generation) {
        for (let at = from; at < to; at += recordSize(batch.view, at)) {
          setGeneration(batch.buf, batch.view, at, seg.generation);
        }
      }
      await writeAll(this.fs, seg.fd, batch.buf, from, to - from, seg.writeOffset);
      batch.chunkStart.push(from);
      batch.chunkGen.push(seg.generation);
      batch.chunkPos.push(seg.writeOffset);
      seg.writeOffset += to - from;
      seg.writeSeq = batch.seq;
      this.grew(seg);
      from = to;
    }
    return rolledOver;
  }

  /** Points the index at the records a durable batch wrote, if they are still live. */
  private placeWritten(batch: WriteBatch): void {
    const token = -batch.seq;
    let c = 0;
    const n = batch.locOff.length;
    for (let i = 0; i < n; i++) {
      const off = batch.locOff[i]!;
      while (c + 1 < batch.chunkStart.length && batch.chunkStart[c + 1]! <= off) c++;
      const g = this.groupIndex.get(batch.locGroup[i]!);
      if (g === undefined) continue;
      const generation = batch.chunkGen[c]!;
      const position = batch.chunkPos[c]! + off - batch.chunkStart[c]!;
      const kind = batch.locKind[i];
      // (token, off) identifies exactly this record: a slot truncated, replaced or copied
      // forward since then no longer carries it.
      if (kind === LocatorKind.entry) {
        const slot = g.find(batch.locLsn[i]!);
        if (slot < 0 || g.generation[slot] !== token || g.position[slot] !== off) continue;
        g.generation[slot] = generation;
        g.position[slot] = position;
      } else {
        const stored = kind === LocatorKind.meta ? g.meta : g.base;
        if (stored === undefined || stored.generation !== token || stored.position !== off) continue;
        stored.generation = generation;
        stored.position = position;
      }
      this.byGeneration.get(generation)!.acquire(g.group);
    }
  }

  /**
   * Seals the current segment and starts the next one. The seal record is durable before the
   * next segment exists, so recovery can demand that every older segment ends with one.
   */
  private async rollOver(): Promise<void> {
    const old = this.current;
    const seal = Buffer.allocUnsafe(SEAL_BYTES);
    encodeRecord(seal, viewOf(seal), 0, old.generation, Kind.seal, 0, 0, 0, 0, 0, undefined);
    await writeAll(this.fs, old.fd, seal, 0, SEAL_BYTES, old.writeOffset);
    old.writeOffset += SEAL_BYTES;
    this.grew(old);
    await fdatasync(this.fs, old.fd);
    old.sealed = true;
    const generation = old.generation + 1;
    const oldest = this.segments[0]!;
    if (oldest !== old && oldest.deletable(this.durable)) {
      // Reuse the freed file: overwriting allocated blocks makes each fdatasync cheaper than
      // appending (no size change to journal). Its stale records carry an older generation.
      const from = oldest.path;
      this.segments.shift();
      this.byGeneration.delete(oldest.generation);
      oldest.rename(this.dir, generation);
      await new Promise<void>((resolve, reject) =>
        this.fs.rename(from, oldest.path, (e) => (e ? reject(e) : resolve())),
      );
      this.addSegment(oldest);
    } else {
      this.addSegment(await this.createSegment(generation));
    }
    await this.syncDir();
    await this.deleteFreedSegments();
  }

  /** Makes created, renamed and deleted segment files durable (the test-only switch skips it). */
  private syncDir(): Promise<void> {
    return this.skipDirFsync ? Promise.resolve() : fsyncDir(this.fs, this.dir);
  }

  private createSegment(generation: number): Promise<Segment> {
    const file = path.join(this.dir, segmentFileName(generation));
    return new Promise((resolve, reject) =>
      this.fs.create(file, (err, fd) =>
        err ? reject(err) : resolve(new Segment(this.dir, generation, fd, 0, 0)),
      ),
    );
  }

  private addSegment(segment: Segment): void {
    this.segments.push(segment);
    this.byGeneration.set(segment.generation, segment);
  }

  private grew(seg: Segment): void {
    if (seg.writeOffset > seg.fileSize) {
      this.diskBytes += seg.writeOffset - seg.fileSize;
      seg.fileSize = seg.writeOffset;
    }
  }

  /**
   * Deletes the oldest segments while nothing needs them, oldest first, each unlink durable
   * before the next: whatever survives a crash is a suffix of the log.
   */
  private async deleteFreedSegments(): Promise<number[]> {
    const deleted: number[] = [];
    while (this.segments.length > 1 && this.segments[0]!.deletable(this.durable)) {
      const s = this.segments.shift()!;
      this.byGeneration.delete(s.generation);
      await new Promise<void>((resolve, reject) =>
        this.fs.unlink(s.path, (e) => (e ? reject(e) : resolve())),
      );
      this.fs.closeSync(s.fd);
      this.diskBytes -= s.fileSize;
      deleted.push(s.generation);
      await this.syncDir();
    }
    return deleted;
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
      this.deleteFreedSegments().catch((e) => Promise.reject(this.fail(e))),
    );
    return { copiedGroups, deletedSegments };
  }

  /** Queues copy-forward snapshots of the groups pinning lagging segments; returns them. */
  private copyForward(): number[] {
    const pick = pickCopyForward(this.segments, this.groupIndex, this.lagSegments, this.copyForwardBytes);
    if (pick.groups.length === 0) return [];
    try {
      checkDiskBudget(this.budget, this.usage(), pick.bytes);
    } catch {
      return []; // no room to copy now; deleting freed segments first will make room
    }
    for (const g of pick.groups) this.writeSnapshot(g);
    return pick.groups.map((g) => g.group).sort((a, b) => a - b);
  }

  /**
   * Rewrites a group's whole live state into the open batch, then a SNAPSHOT record. Recovery
   * stages the copies and swaps them in only at the SNAPSHOT record, so a torn copy leaves the
   * old state (still on disk: nothing is deleted before the copy is durable).
   */
  private writeSnapshot(g: GroupIndex): void {
    const batch = this.open;
    const token = -batch.seq;
    const group = g.group;
    if (g.meta !== undefined) {
      const m = g.meta;
      const at = batch.append(Kind.meta, FLAG_COPY, group, 0, 0, 0, m.bytes, m.size);
      batch.locate(LocatorKind.meta, group, 0, at);
      this.release(group, m.generation);
      m.generation = token;
      m.position = at;
    }
    if (g.base !== undefined) {
      const b = g.base;
      const at = batch.append(Kind.base, FLAG_COPY, group, b.lsn, 0, 0, b.bytes, b.size);
      batch.locate(LocatorKind.base, group, b.lsn, at);
      this.release(group, b.generation);
      b.generation = token;
      b.position = at;
    }
    for (let i = g.head; i < g.tail; i++) {
      const lsn = g.lsn[i]!;
      const payload = this.readAt(g.generation[i]!, g.position[i]!, g.size[i]!, false);
      const at = batch.append(Kind.entry, FLAG_COPY, group, lsn, g.end[i]!, g.pid[i]!, payload, g.size[i]!);
      batch.locate(LocatorKind.entry, group, lsn, at);
      this.release(group, g.generation[i]!);
      g.generation[i] = token;
      g.position[i] = at;
    }
    const next = g.next;
    batch.append(Kind.snapshot, 0, group, next ?? 0, 0, next === undefined ? 0 : 1, undefined, HEADER_BYTES);
    this.counters.records += g.count + (g.meta ? 1 : 0) + (g.base ? 1 : 0) + 1;
  }

  /** The oldest segment and the groups that keep it on disk. */
  oldestSegmentHolders(): SegmentHolders {
    this.assertUsable();
    const s = this.segments[0]!;
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
    return this.readAt(g.generation[i]!, g.position[i]!, g.size[i]!, true);
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
        bytes: this.readAt(g.generation[i]!, g.position[i]!, g.size[i]!, true),
      };
      from = lsn + 1;
      yield entry;
    }
  }

  private readAt(generation: number, position: number, size: number, useCache: boolean): Uint8Array {
    if (generation < 0) {
      const batch = -generation === this.open.seq ? this.open : this.inflight;
      if (batch === undefined || batch.seq !== -generation) throw new Error(`no write batch ${-generation}`);
      return copyBytes(batch.buf.subarray(position + HEADER_BYTES, position + size));
    }
    const key = `${generation}:${position}`;
    if (useCache) {
      const hit = this.cache.get(key);
      if (hit !== undefined) {
        this.counters.cacheHits++;
        return hit;
      }
      this.counters.cacheMisses++;
    }
    const seg = this.byGeneration.get(generation);
    if (seg === undefined) throw new Error(`no segment of generation ${generation}`);
    const buf = new Uint8Array(size);
    let got = 0;
    while (got < size) {
      const n = this.fs.readSync(seg.fd, buf, got, size - got, position + got);
      if (n === 0) break;
      got += n;
    }
    if (validRecordAt(buf, viewOf(buf), 0, got, generation) !== size) {
      throw new WalError(
        "CORRUPT",
        `record at offset ${position} of ${path.basename(seg.path)} fails its checksum`,
        {
          file: seg.path,
          offset: position,
        },
      );
    }
    const payload = buf.subarray(HEADER_BYTES);
    if (useCache) this.cache.set(key, payload);
    return payload;
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
      bytesOnDisk: this.diskBytes,
      segments: this.segments.length,
      flushes: this.counters.flushes,
      records: this.counters.records,
      bytesWritten: this.counters.bytesWritten,
      durableSeq: this.durable,
      groups: this.groupIndex.size,
      cacheHits: this.counters.cacheHits,
      cacheMisses: this.counters.cacheMisses,
    };
  }

  /** Flushes what is queued (unless the WAL failed) and closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.failure === undefined) await this.flush();
    await this.chain;
    this.closed = true;
    for (const s of this.segments) this.fs.closeSync(s.fd);
    this.cache.clear();
  }
}

function checkGroup(group: unknown): void {
  if (typeof group !== "number" || !Number.isInteger(group) || group < 0 || group > MAX_GROUP) {
    throw new WalError("INVALID_RECORD", `group must be a uint32, got ${String(group)}`);
  }
}

function checkLsn(name: string, value: unknown): void {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new WalError("INVALID_RECORD", `${name} must be a non-negative safe integer, got ${String(value)}`);
  }
}

function checkBytes(bytes: unknown): number {
  if (!(bytes instanceof Uint8Array)) throw new WalError("INVALID_RECORD", "bytes must be a Uint8Array");
  return bytes.byteLength;
}
