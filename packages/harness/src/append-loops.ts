// An append load for the cluster benchmarks and the fault tests: `loops` append loops (one append in
// flight each) over groups 1..G through one client, counted inside a wall-clock window so that several
// client processes can be added up.
import { type PalfClient, PalfError } from "@palf/client";
import { Histogram } from "./latency-histogram.ts";
import { sleep } from "./polling.ts";

export interface LoadOptions {
  readonly groups: number;
  readonly size: number;
  /** Append loops in this process. */
  readonly loops: number;
  /** Index of this process's first loop among all loops, and the number of loops in all processes. */
  readonly firstLoop: number;
  readonly totalLoops: number;
  /** Date.now() at which counting starts (earlier acks are warm-up) and at which loops stop. */
  readonly measureFrom: number;
  readonly measureTo: number;
  /** Called with each acknowledged append (for read-back checks). */
  readonly onAck?: (group: number, lsn: number, seq: number, payload: Uint8Array) => void;
  /** Distinct payloads per append (needed for read-back); otherwise one shared buffer. */
  readonly payload?: (group: number, seq: number) => Uint8Array;
}

export interface LoadResult {
  /** Appends acknowledged inside the window. */
  acked: number;
  /** Appends acknowledged in all (warm-up included). */
  ackedTotal: number;
  appended: number;
  bytes: number;
  errors: Record<string, number>;
  /** Latency (append call to committed ack) of the appends acknowledged inside the window. */
  latency: number[];
}

/** Runs the loops until measureTo and waits for the appends still in flight. */
export async function runLoad(client: PalfClient, o: LoadOptions): Promise<LoadResult> {
  const hist = new Histogram();
  const res: LoadResult = { acked: 0, ackedTotal: 0, appended: 0, bytes: 0, errors: {}, latency: [] };
  const fixed = new Uint8Array(o.size).fill(0x61);
  const seqs = new Map<number, number>();
  const loop = async (w: number) => {
    for (let k = 0; Date.now() < o.measureTo; k++) {
      const g = ((w + k * o.totalLoops) % o.groups) + 1;
      const seq = (seqs.get(g) ?? 0) + 1;
      seqs.set(g, seq);
      const payload = o.payload ? o.payload(g, seq) : fixed;
      res.appended++;
      const t = performance.now();
      try {
        const r = await client.group(g).append(payload);
        const now = Date.now();
        res.ackedTotal++;
        o.onAck?.(g, r.lsn, seq, payload);
        if (now >= o.measureFrom && now <= o.measureTo) {
          res.acked++;
          res.bytes += payload.length;
          hist.add(performance.now() - t);
        }
      } catch (e) {
        const code = e instanceof PalfError ? e.code : "OTHER";
        res.errors[code] = (res.errors[code] ?? 0) + 1;
        if (code === "CLOSED") return;
        await sleep(20);
      }
    }
  };
  await Promise.all(Array.from({ length: o.loops }, (_, i) => loop(o.firstLoop + i)));
  res.latency = hist.counts;
  return res;
}
