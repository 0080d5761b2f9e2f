/**
 * In-memory index of one group: its live entries (lsn -> record location), its latest meta
 * and base records, and the LSN its next entry must start at.
 *
 * A location is (generation, position): generation > 0 is a segment file and position the
 * record's byte offset in it; generation < 0 means "not written yet", in the write batch
 * with flush sequence number -generation, at batch offset `position`. (-seq, offset) is
 * unique, so a flush can tell whether a slot still refers to the record it just wrote.
 *
 * Entries are kept in typed-array columns between `head` and `tail` (no object per entry):
 * a group with 100k cached-out entries costs 44 bytes each, an idle group almost nothing.
 */

/** Called once for each location that stops being live, with its group and generation. */
export type Release = (group: number, generation: number) => void;

/** Location of a meta or base record plus its decoded content. */
export interface StoredRecord {
  bytes: Uint8Array;
  generation: number;
  position: number;
  /** Encoded size on disk, header included. */
  size: number;
}

export interface StoredBase extends StoredRecord {
  lsn: number;
}

const EMPTY_F64 = new Float64Array(0);
const EMPTY_U32 = new Uint32Array(0);

export class GroupIndex {
  readonly group: number;
  lsn = EMPTY_F64;
  end = EMPTY_F64;
  pid = EMPTY_F64;
  generation = EMPTY_F64;
  position = EMPTY_F64;
  /** Encoded record size (header + payload). */
  size = EMPTY_U32;
  head = 0;
  tail = 0;
  /** LSN the next entry must start at; undefined while any LSN is acceptable. */
  next: number | undefined;
  meta: StoredRecord | undefined;
  base: StoredBase | undefined;
  /** Encoded bytes of every live record of the group: what a copy-forward rewrites. */
  liveBytes = 0;

  constructor(group: number) {
    this.group = group;
  }

  get count(): number {
    return this.tail - this.head;
  }

  /** First slot with lsn >= `lsn` (tail if none). */
  lowerBound(lsn: number): number {
    let lo = this.head;
    let hi = this.tail;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.lsn[mid]! < lsn) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Slot of the entry starting exactly at `lsn`, or -1. */
  find(lsn: number): number {
    // Most lookups (flush bookkeeping, followers reading what was just written) hit the tail.
    const last = this.tail - 1;
    if (last >= this.head && this.lsn[last] === lsn) return last;
    const i = this.lowerBound(lsn);
    return i < this.tail && this.lsn[i] === lsn ? i : -1;
  }

  push(lsn: number, end: number, pid: number, generation: number, position: number, size: number): void {
    if (this.tail === this.lsn.length) this.makeRoom();
    const i = this.tail++;
    this.lsn[i] = lsn;
    this.end[i] = end;
    this.pid[i] = pid;
    this.generation[i] = generation;
    this.position[i] = position;
    this.size[i] = size;
    this.liveBytes += size;
    this.next = end;
  }

  /** Drops entries with lsn >= `lsn`. */
  truncateFrom(lsn: number, release: Release): void {
    while (this.tail > this.head && this.lsn[this.tail - 1]! >= lsn) {
      this.tail--;
      this.liveBytes -= this.size[this.tail]!;
      release(this.group, this.generation[this.tail]!);
    }
    if (this.tail > this.head) this.next = this.end[this.tail - 1]!;
    else if (this.next !== undefined) this.next = Math.min(this.next, lsn);
  }

  /** Drops entries entirely below `lsn`; a base above the end empties the group (rebuild). */
  dropBelow(lsn: number, release: Release): void {
    while (this.head < this.tail && this.end[this.head]! <= lsn) {
      this.liveBytes -= this.size[this.head]!;
      release(this.group, this.generation[this.head]!);
      this.head++;
    }
    if (this.head === this.tail) {
      this.head = 0;
      this.tail = 0;
      this.next = this.next === undefined ? lsn : Math.max(this.next, lsn);
    }
  }

  setMeta(meta: StoredRecord, release: Release): void {
    if (this.meta !== undefined) {
      this.liveBytes -= this.meta.size;
      release(this.group, this.meta.generation);
    }
    this.meta = meta;
    this.liveBytes += meta.size;
  }

  /**
   * Makes `base` the group's base. A reset base (a rebuild) also drops the entries at and above it: they
   * belong to the log it replaces (an entry spanning the base would otherwise survive dropBelow, and one
   * above it would be appended to), and the next entry starts at the base.
   */
  setBase(base: StoredBase, release: Release, reset = false): void {
    if (this.base !== undefined) {
      this.liveBytes -= this.base.size;
      release(this.group, this.base.generation);
    }
    this.base = base;
    this.liveBytes += base.size;
    if (reset) {
      this.truncateFrom(0, release);
      this.next = base.lsn;
    }
    this.dropBelow(base.lsn, release);
  }

  /** Releases every live location (the group is dropped or replaced by a snapshot). */
  releaseAll(release: Release): void {
    for (let i = this.head; i < this.tail; i++) release(this.group, this.generation[i]!);
    if (this.meta !== undefined) release(this.group, this.meta.generation);
    if (this.base !== undefined) release(this.group, this.base.generation);
  }

  /** Calls `fn` with the generation of every live location. */
  forEachGeneration(fn: (generation: number) => void): void {
    for (let i = this.head; i < this.tail; i++) fn(this.generation[i]!);
    if (this.meta !== undefined) fn(this.meta.generation);
    if (this.base !== undefined) fn(this.base.generation);
  }

  private makeRoom(): void {
    const live = this.tail - this.head;
    const capacity = this.lsn.length;
    // Reclaim the slots dropped below base before growing.
    if (this.head > 0 && live <= capacity / 2) {
      for (const col of [this.lsn, this.end, this.pid, this.generation, this.position]) {
        col.copyWithin(0, this.head, this.tail);
      }
      this.size.copyWithin(0, this.head, this.tail);
      this.head = 0;
      this.tail = live;
      return;
    }
    const next = Math.max(8, capacity * 2);
    const grow64 = (col: Float64Array) => {
      const out = new Float64Array(next);
      out.set(col.subarray(this.head, this.tail));
      return out;
    };
    this.lsn = grow64(this.lsn);
    this.end = grow64(this.end);
    this.pid = grow64(this.pid);
    this.generation = grow64(this.generation);
    this.position = grow64(this.position);
    const size = new Uint32Array(next);
    size.set(this.size.subarray(this.head, this.tail));
    this.size = size;
    this.head = 0;
    this.tail = live;
  }
}
