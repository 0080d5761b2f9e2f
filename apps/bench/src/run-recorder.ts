// What the load tester records: per wall-clock second of the measured run, the appends acknowledged, bytes,
// errors, an HDR histogram of latency (from the intended send time) and of service time (from the actual
// send), and what the readers delivered with their lag. Client processes send their seconds to the parent
// as JSON (histograms as compressed base64), which merges them into one recorder.
import * as hdr from "hdr-histogram-js";

/**
 * Microseconds, 3 significant digits, growing to the largest value recorded (a few tens of KB for
 * latencies up to seconds). 32-bit counts: the packed variant is smaller but about 100x slower to encode.
 */
export function newHistogram(): hdr.Histogram {
  return hdr.build({
    bitBucketSize: 32,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: 2,
    numberOfSignificantValueDigits: 3,
  });
}

/** An hour: anything longer is recorded as an hour. */
const MAX_US = 3_600_000_000;

/** Records `ms` as microseconds (at least 1 µs). */
export function recordMs(h: hdr.Histogram, ms: number): void {
  h.recordValue(Math.max(1, Math.min(MAX_US, Math.round(ms * 1000))));
}

/** The p-th percentile of `h` in ms (NaN when empty). */
export function percentileMs(h: hdr.Histogram, p: number): number {
  return h.totalCount === 0 ? Number.NaN : h.getValueAtPercentile(p) / 1000;
}

export class SecondStats {
  acked = 0;
  bytes = 0;
  errors: Record<string, number> = {};
  /** Append latency from the intended send time (µs). */
  readonly latency = newHistogram();
  /** Append latency from the actual send time (µs). */
  readonly service = newHistogram();
  /** Entries the readers delivered, and their lag from the append's send to delivery (µs). */
  delivered = 0;
  readonly lag = newHistogram();

  merge(o: SecondStats): void {
    this.acked += o.acked;
    this.bytes += o.bytes;
    for (const [k, v] of Object.entries(o.errors)) this.errors[k] = (this.errors[k] ?? 0) + v;
    this.latency.add(o.latency);
    this.service.add(o.service);
    this.delivered += o.delivered;
    this.lag.add(o.lag);
  }

  errorCount(): number {
    return Object.values(this.errors).reduce((a, b) => a + b, 0);
  }
}

/** One second in transit from a client process. */
export interface SecondJson {
  readonly second: number;
  readonly acked: number;
  readonly bytes: number;
  readonly errors: Record<string, number>;
  readonly delivered: number;
  readonly latency: string;
  readonly service: string;
  readonly lag: string;
}

/** Per-second statistics of a run, keyed by whole seconds since `epochMs` (wall clock). */
export class RunRecorder {
  private readonly seconds = new Map<number, SecondStats>();

  /** Running totals, cheap to read while the run goes on (total() merges every histogram). */
  readonly counts = { acked: 0, errors: 0, delivered: 0 };

  /** Wall-clock ms of second 0; until start() nothing is measured yet (readers skip what they see). */
  constructor(public epochMs = Number.POSITIVE_INFINITY) {}

  /** Fixes second 0 once the run's clients are ready. */
  start(epochMs: number): void {
    this.epochMs = epochMs;
  }

  /** The second `atMs` (wall clock) falls into. */
  secondOf(atMs: number): number {
    return Math.floor((atMs - this.epochMs) / 1000);
  }

  at(second: number): SecondStats {
    let s = this.seconds.get(second);
    if (!s) {
      s = new SecondStats();
      this.seconds.set(second, s);
    }
    return s;
  }

  /** The stats of `second` if anything was recorded in it (does not create it). */
  peek(second: number): SecondStats | undefined {
    return this.seconds.get(second);
  }

  ack(atMs: number, latencyMs: number, serviceMs: number, bytes: number): void {
    const s = this.at(this.secondOf(atMs));
    s.acked++;
    this.counts.acked++;
    s.bytes += bytes;
    recordMs(s.latency, latencyMs);
    recordMs(s.service, serviceMs);
  }

  error(atMs: number, code: string): void {
    const s = this.at(this.secondOf(atMs));
    s.errors[code] = (s.errors[code] ?? 0) + 1;
    this.counts.errors++;
  }

  delivered(atMs: number, lagMs: number | undefined): void {
    const s = this.at(this.secondOf(atMs));
    s.delivered++;
    this.counts.delivered++;
    if (lagMs !== undefined) recordMs(s.lag, lagMs);
  }

  /** The recorded seconds in order (gaps included as empty seconds). */
  rows(): Array<{ second: number; stats: SecondStats }> {
    const keys = [...this.seconds.keys()].sort((a, b) => a - b);
    if (keys.length === 0) return [];
    const out: Array<{ second: number; stats: SecondStats }> = [];
    for (let k = keys[0]!; k <= keys.at(-1)!; k++)
      out.push({ second: k, stats: this.seconds.get(k) ?? new SecondStats() });
    return out;
  }

  /** Everything merged into one. */
  total(): SecondStats {
    const t = new SecondStats();
    for (const s of this.seconds.values()) t.merge(s);
    return t;
  }

  mergeJson(j: SecondJson): void {
    const s = new SecondStats();
    s.acked = j.acked;
    s.bytes = j.bytes;
    s.errors = { ...j.errors };
    s.delivered = j.delivered;
    s.latency.add(hdr.decodeFromCompressedBase64(j.latency, 32));
    s.service.add(hdr.decodeFromCompressedBase64(j.service, 32));
    s.lag.add(hdr.decodeFromCompressedBase64(j.lag, 32));
    this.at(j.second).merge(s);
    this.counts.acked += s.acked;
    this.counts.errors += s.errorCount();
    this.counts.delivered += s.delivered;
  }

  /**
   * Hands out (and forgets) the seconds before `beforeSecond`, or all of them: a client process reports
   * each finished second once. Later records into a handed-out second are sent as that second again.
   */
  takeJson(beforeSecond = Number.POSITIVE_INFINITY): SecondJson[] {
    const out: SecondJson[] = [];
    for (const [k, s] of [...this.seconds].sort((a, b) => a[0] - b[0])) {
      if (k >= beforeSecond) continue;
      this.seconds.delete(k);
      out.push({
        second: k,
        acked: s.acked,
        bytes: s.bytes,
        errors: s.errors,
        delivered: s.delivered,
        latency: hdr.encodeIntoCompressedBase64(s.latency),
        service: hdr.encodeIntoCompressedBase64(s.service),
        lag: hdr.encodeIntoCompressedBase64(s.lag),
      });
    }
    return out;
  }
}
