/**
 * Latency histogram (ms): log buckets 1% wide from 0.01 ms, so percentiles are within 1% and histograms of
 * several client processes can be merged (they travel as plain arrays).
 */
export class Histogram {
  static readonly MIN = 0.01;
  static readonly STEP = Math.log(1.01);
  readonly counts: number[];
  count = 0;
  constructor(counts?: readonly number[]) {
    this.counts = counts ? [...counts] : [];
    for (const c of this.counts) this.count += c ?? 0;
  }
  add(ms: number): void {
    const i = ms <= Histogram.MIN ? 0 : Math.ceil(Math.log(ms / Histogram.MIN) / Histogram.STEP);
    while (this.counts.length <= i) this.counts.push(0);
    this.counts[i]!++;
    this.count++;
  }
  merge(other: Histogram): void {
    for (let i = 0; i < other.counts.length; i++) {
      while (this.counts.length <= i) this.counts.push(0);
      this.counts[i]! += other.counts[i]!;
    }
    this.count += other.count;
  }
  /** The upper edge of the bucket holding the p-th percentile (ms). */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Histogram.MIN * Math.exp(i * Histogram.STEP);
    }
    return Number.NaN;
  }
}
