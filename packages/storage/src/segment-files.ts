/**
 * Segment lifecycle of the shard WAL: the segment files oldest first (the last one takes appends), their
 * creation, sealing and rollover, reuse of a freed file, deletion oldest-first, and the bytes they use.
 */
import path from "node:path";
import { fdatasync, fsyncDir, writeAll } from "./file-io.ts";
import { encodeRecord, Kind, SEAL_BYTES, viewOf } from "./record-codec.ts";
import type { WalFs } from "./wal-fs.ts";
import { Segment, segmentFileName } from "./wal-segment.ts";

export class SegmentFiles {
  /** Oldest first; the last one is the one appends go to. */
  readonly list: Segment[];
  private readonly byGeneration = new Map<number, Segment>();
  /** Bytes of every segment file. */
  diskBytes = 0;

  constructor(
    readonly dir: string,
    private readonly fs: WalFs,
    /** ShardWalOptions.unsafe.skipDirFsync (test-only). */
    private readonly skipDirFsync: boolean,
    /** The WAL's last durable flush: a segment whose records are all dead goes once that flush covers it. */
    private readonly durableSeq: () => number,
    recovered: Segment[],
  ) {
    this.list = recovered;
    for (const s of this.list) {
      this.byGeneration.set(s.generation, s);
      this.diskBytes += s.fileSize;
    }
  }

  get current(): Segment {
    return this.list[this.list.length - 1]!;
  }

  get oldest(): Segment {
    return this.list[0]!;
  }

  get(generation: number): Segment | undefined {
    return this.byGeneration.get(generation);
  }

  /** Creates the first segment, or a new one when the newest was sealed before a crash. */
  async ensureWritable(): Promise<void> {
    const last = this.list.at(-1);
    if (last !== undefined && !last.sealed) return;
    this.add(await this.create((last?.generation ?? 0) + 1));
    await this.syncDir();
  }

  /**
   * Seals the current segment and starts the next one. The seal record is durable before the
   * next segment exists, so recovery can demand that every older segment ends with one.
   */
  async rollOver(): Promise<void> {
    const old = this.current;
    const seal = Buffer.allocUnsafe(SEAL_BYTES);
    encodeRecord(seal, viewOf(seal), 0, old.generation, Kind.seal, 0, 0, 0, 0, 0, undefined);
    await writeAll(this.fs, old.fd, seal, 0, SEAL_BYTES, old.writeOffset);
    old.writeOffset += SEAL_BYTES;
    this.grew(old);
    await fdatasync(this.fs, old.fd);
    old.sealed = true;
    const generation = old.generation + 1;
    const oldest = this.list[0]!;
    if (oldest !== old && oldest.deletable(this.durableSeq())) {
      // Reuse the freed file: overwriting allocated blocks makes each fdatasync cheaper than
      // appending (no size change to journal). Its stale records carry an older generation.
      const from = oldest.path;
      this.list.shift();
      this.byGeneration.delete(oldest.generation);
      oldest.rename(this.dir, generation);
      await new Promise<void>((resolve, reject) =>
        this.fs.rename(from, oldest.path, (e) => (e ? reject(e) : resolve())),
      );
      this.add(oldest);
    } else {
      this.add(await this.create(generation));
    }
    await this.syncDir();
    await this.deleteFreed();
  }

  /** The file grew to `seg.writeOffset`: count the new bytes. */
  grew(seg: Segment): void {
    if (seg.writeOffset > seg.fileSize) {
      this.diskBytes += seg.writeOffset - seg.fileSize;
      seg.fileSize = seg.writeOffset;
    }
  }

  /**
   * Deletes the oldest segments while nothing needs them, oldest first, each unlink durable
   * before the next: whatever survives a crash is a suffix of the log.
   */
  async deleteFreed(): Promise<number[]> {
    const deleted: number[] = [];
    while (this.list.length > 1 && this.list[0]!.deletable(this.durableSeq())) {
      const s = this.list.shift()!;
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

  closeAll(): void {
    for (const s of this.list) this.fs.closeSync(s.fd);
  }

  /** Makes created, renamed and deleted segment files durable (the test-only switch skips it). */
  private syncDir(): Promise<void> {
    return this.skipDirFsync ? Promise.resolve() : fsyncDir(this.fs, this.dir);
  }

  private create(generation: number): Promise<Segment> {
    const file = path.join(this.dir, segmentFileName(generation));
    return new Promise((resolve, reject) =>
      this.fs.create(file, (err, fd) =>
        err ? reject(err) : resolve(new Segment(this.dir, generation, fd, 0, 0)),
      ),
    );
  }

  private add(segment: Segment): void {
    this.list.push(segment);
    this.byGeneration.set(segment.generation, segment);
  }
}
