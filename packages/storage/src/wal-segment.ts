/**
 * One segment file of the shard WAL and what keeps it alive.
 *
 * Files are named after their generation (`wal-0000000042.seg`); generations only grow, so
 * sorting names sorts by age. A segment is needed while it holds a live record of some group
 * (an entry above the group's base and not truncated, or the group's latest meta or base).
 * Segments are only ever deleted oldest-first, so the files on disk are always a suffix of
 * the log's history: replaying a suffix gives the same state as replaying everything,
 * because each deleted prefix held nothing live.
 */
import path from "node:path";

const NAME = /^wal-(\d{10})\.seg$/;

export function segmentFileName(generation: number): string {
  return `wal-${generation.toString().padStart(10, "0")}.seg`;
}

/** Generation of a segment file name, or undefined for any other file. */
export function parseSegmentFileName(name: string): number | undefined {
  const m = NAME.exec(name);
  return m === null ? undefined : Number(m[1]);
}

export class Segment {
  generation: number;
  path: string;
  readonly fd: number;
  /** Where the next record goes. */
  writeOffset: number;
  /** Size of the file on disk; a reused file keeps its old (full) size. */
  fileSize: number;
  /** Ends with a seal record; nothing more is written to it. */
  sealed = false;
  /** Live records of each group in this segment. */
  readonly live = new Map<number, number>();
  /**
   * Highest flush seq of a record that made something here dead (a truncate, base, newer
   * meta, copy-forward). Until that flush is durable the dead records may still be needed
   * after a crash, so the segment is not deletable before it.
   */
  releaseSeq = 0;
  /** Highest flush seq of a batch written here; its records count as live only once durable. */
  writeSeq = 0;

  constructor(dir: string, generation: number, fd: number, writeOffset: number, fileSize: number) {
    this.generation = generation;
    this.path = path.join(dir, segmentFileName(generation));
    this.fd = fd;
    this.writeOffset = writeOffset;
    this.fileSize = fileSize;
  }

  acquire(group: number): void {
    this.live.set(group, (this.live.get(group) ?? 0) + 1);
  }

  release(group: number, seq: number): void {
    const n = this.live.get(group);
    if (n === undefined) return;
    if (n <= 1) this.live.delete(group);
    else this.live.set(group, n - 1);
    if (seq > this.releaseSeq) this.releaseSeq = seq;
  }

  /** Nothing live, and every write or release that concerns it is durable. */
  deletable(durableSeq: number): boolean {
    return (
      this.sealed && this.live.size === 0 && this.releaseSeq <= durableSeq && this.writeSeq <= durableSeq
    );
  }

  /** Gives the file a new generation (reuse of a recycled segment as the next one). */
  rename(dir: string, generation: number): void {
    this.generation = generation;
    this.path = path.join(dir, segmentFileName(generation));
    this.writeOffset = 0;
    this.sealed = false;
    this.live.clear();
    this.releaseSeq = 0;
    this.writeSeq = 0;
  }
}
