/**
 * Deadlines of many groups on one timer: items are hashed into buckets of `resolutionMs`, and a small heap
 * of bucket ids finds the next one. Rescheduling an item moves it; no timer per group.
 */
export class TimerWheel<T> {
  private readonly buckets = new Map<number, Set<T>>();
  private readonly bucketOf = new Map<T, number>();
  private readonly heap: number[] = [];

  constructor(private readonly resolutionMs = 5) {}

  get size(): number {
    return this.bucketOf.size;
  }

  schedule(item: T, at: number): void {
    const b = Math.ceil(at / this.resolutionMs);
    const old = this.bucketOf.get(item);
    if (old === b) return;
    if (old !== undefined) this.buckets.get(old)?.delete(item);
    let set = this.buckets.get(b);
    if (!set) {
      set = new Set();
      this.buckets.set(b, set);
      this.push(b);
    }
    set.add(item);
    this.bucketOf.set(item, b);
  }

  cancel(item: T): void {
    const b = this.bucketOf.get(item);
    if (b === undefined) return;
    this.buckets.get(b)?.delete(item);
    this.bucketOf.delete(item);
  }

  /** Removes and returns every item due at `now`. */
  due(now: number): T[] {
    const out: T[] = [];
    while (this.heap.length > 0 && this.heap[0]! * this.resolutionMs <= now) {
      const b = this.pop();
      const set = this.buckets.get(b);
      this.buckets.delete(b);
      if (!set) continue;
      for (const item of set) {
        out.push(item);
        this.bucketOf.delete(item);
      }
    }
    return out;
  }

  /** When the earliest bucket is due, or Infinity. */
  nextAt(): number {
    while (this.heap.length > 0 && (this.buckets.get(this.heap[0]!)?.size ?? 0) === 0) {
      this.buckets.delete(this.pop());
    }
    return this.heap.length > 0 ? this.heap[0]! * this.resolutionMs : Number.POSITIVE_INFINITY;
  }

  private push(b: number): void {
    const h = this.heap;
    h.push(b);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]! <= h[i]!) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }

  private pop(): number {
    const h = this.heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]! < h[m]!) m = l;
        if (r < h.length && h[r]! < h[m]!) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}
