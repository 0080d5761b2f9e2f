// `pnpm bench gts --clients 100 --seconds 10 [--processes 2]`: a real cluster on this machine (nats-server +
// N palfd, fsync on) with the GTS group created; C GTS clients (each one request in flight, ranges shared by
// its callers) with K callers each, spread over P client processes (one thread resolving a promise per
// timestamp is what limits a single process, so the callers must not all live in one). Each caller checks
// that every timestamp is above every one its process had received before it asked; across processes,
// every 64th call is sampled with the machine's monotonic clock and the parent checks real-time order over
// all samples (a timestamp received before another was asked for is below it). Ends with one JSON line:
// {"tsPerS","p99Ms","monotonic", ...}
import { parseArgs } from "node:util";
import { GtsClient } from "@palf/gts";
import { CLUSTER, createRealBenchCluster, Histogram } from "@palf/harness";
import { connectNatsTransport, type Transport } from "@palf/transport";
import { serveBenchProcess, spawnBenchProcess } from "./bench-process.ts";
import { type FlagSpec, positiveInt } from "./flags.ts";
import { cpuSeconds } from "./proc-stats.ts";
import { round } from "./rounding.ts";

/** The flags of `gts` (parsed by parseArgs here, listed by `--help`). */
export const flags = {
  nodes: { type: "string", default: "3", help: "palfd processes", arg: "n" },
  clients: { type: "string", default: "100", help: "GTS clients (over all client processes)", arg: "n" },
  callers: { type: "string", default: "64", help: "callers per client", arg: "n" },
  processes: { type: "string", default: "2", help: "client processes the clients are spread over", arg: "n" },
  connections: { type: "string", default: "2", help: "NATS connections per client process", arg: "n" },
  seconds: { type: "string", default: "10", help: "measuring time", arg: "s" },
  "lease-ms": { type: "string", default: "2000", help: "leader lease", arg: "ms" },
  worker: { type: "string", hidden: true, help: "internal: run as a client process with this JSON spec" },
} as const satisfies FlagSpec;

interface WorkerSpec {
  readonly natsUrl: string;
  readonly nodes: readonly string[];
  readonly clients: number;
  readonly callers: number;
  readonly connections: number;
}

/** Wall-clock ms of the measuring window, and a timestamp every answer must be above. */
interface Start {
  readonly warmUntil: number;
  readonly endAt: number;
  readonly floor: number;
}

interface WorkerResult {
  readonly received: number;
  readonly violations: number;
  readonly requests: number;
  readonly cpuPct: number;
  readonly latency: number[];
  /** Flat triples (asked, answered, timestamp); times in microseconds of the machine's monotonic clock. */
  readonly samples: number[];
}

/** One in this many calls is sampled (latency and the cross-process order check). */
const SAMPLE_EVERY = 64;

/** CLOCK_MONOTONIC in microseconds: one clock for every process on this machine. */
const monoUs = () => Number(process.hrtime.bigint() / 1000n);

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: flags, strict: true });
  if (values.worker)
    return serveBenchProcess((s: Start) => work(JSON.parse(values.worker!) as WorkerSpec, s));
  const nodeCount = positiveInt("nodes", values.nodes);
  const clientCount = positiveInt("clients", values.clients);
  const callers = positiveInt("callers", values.callers);
  const processes = Math.min(positiveInt("processes", values.processes), clientCount);
  const connections = positiveInt("connections", values.connections);
  const seconds = positiveInt("seconds", values.seconds);
  const nodes = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
  const cluster = createRealBenchCluster({ nodes, leaseMs: positiveInt("lease-ms", values["lease-ms"]) });
  try {
    await cluster.start();
    const admin = await cluster.client();
    await admin.createGroup(0, nodes);
    const first = await admin.timestamp();
    const workers = await Promise.all(
      Array.from({ length: processes }, (_, i) => {
        const clients = Math.floor(clientCount / processes) + (i < clientCount % processes ? 1 : 0);
        const spec: WorkerSpec = { natsUrl: cluster.natsUrl, nodes, clients, callers, connections };
        return spawnBenchProcess<Start, WorkerResult>("gts", spec, `GTS client process ${i}`);
      }),
    );
    const warmUntil = Date.now() + 1000;
    const start: Start = { warmUntil, endAt: warmUntil + seconds * 1000, floor: first };
    const cpu0 = new Map([...cluster.pids()].map(([n, pid]) => [n, cpuSeconds(pid) ?? 0]));
    const cpuAt = setTimeout(() => {
      for (const [n, pid] of cluster.pids()) cpu0.set(n, cpuSeconds(pid) ?? 0);
    }, warmUntil - Date.now());
    const results = await Promise.all(workers.map((w) => w.run(start)));
    clearTimeout(cpuAt);
    const nodeCpuPct = Object.fromEntries(
      [...cluster.pids()].map(([n, pid]) => [
        n,
        round((((cpuSeconds(pid) ?? 0) - cpu0.get(n)!) / seconds) * 100),
      ]),
    );
    const hist = new Histogram();
    for (const r of results) hist.merge(new Histogram(r.latency));
    const crossViolations = realTimeViolations(results.map((r) => r.samples));
    const received = results.reduce((n, r) => n + r.received, 0);
    const violations = results.reduce((n, r) => n + r.violations, 0) + crossViolations;
    console.log(
      JSON.stringify({
        bench: "gts",
        nodes: nodeCount,
        processes,
        clients: clientCount,
        callersPerClient: callers,
        seconds,
        tsPerS: Math.round(received / seconds),
        p50Ms: round(hist.percentile(50), 2),
        p99Ms: round(hist.percentile(99), 2),
        monotonic: violations === 0,
        violations,
        crossProcessSamples: results.reduce((n, r) => n + r.samples.length / 3, 0),
        requestsPerS: Math.round(results.reduce((n, r) => n + r.requests, 0) / (seconds + 1)),
        clientCpuPct: results.map((r) => round(r.cpuPct)),
        nodeCpuPct,
      }),
    );
    await admin.close();
  } finally {
    await cluster.stop();
  }
}

/** A client process: its clients and callers until `endAt`, counting what arrives inside the window. */
async function work(spec: WorkerSpec, start: Start): Promise<WorkerResult> {
  const transports: Transport[] = [];
  for (let i = 0; i < spec.connections; i++)
    transports.push(
      await connectNatsTransport({
        cluster: CLUSTER,
        nodeId: `gts-bench-${process.pid}-${i}`,
        servers: spec.natsUrl,
      }),
    );
  const clients = Array.from(
    { length: spec.clients },
    (_, i) => new GtsClient(transports[i % transports.length]!, { nodes: spec.nodes }),
  );
  const hist = new Histogram();
  const samples: number[] = [];
  let maxSeen = start.floor;
  let received = 0;
  let violations = 0;
  let measuring = false;
  let running = true;
  let cpuAt: NodeJS.CpuUsage | undefined;
  // The clock is read by a timer, not per call, so the bench's own cost stays small.
  const clock = setInterval(() => {
    const now = Date.now();
    if (!measuring && now >= start.warmUntil && now < start.endAt) cpuAt = process.cpuUsage();
    measuring = now >= start.warmUntil && now < start.endAt;
    running = now < start.endAt;
  }, 5);
  const caller = async (c: GtsClient, offset: number) => {
    for (let i = offset; running; i++) {
      const floor = maxSeen;
      const sampled = i % SAMPLE_EVERY === 0;
      const asked = sampled ? monoUs() : 0;
      const ts = await c.timestamp();
      if (ts <= floor) violations++;
      if (ts > maxSeen) maxSeen = ts;
      if (!measuring) continue;
      received++;
      if (sampled) {
        const answered = monoUs();
        samples.push(asked, answered, ts);
        hist.add((answered - asked) / 1000);
      }
    }
  };
  await Promise.all(clients.flatMap((c) => Array.from({ length: spec.callers }, (_, k) => caller(c, k))));
  clearInterval(clock);
  const used = cpuAt ? process.cpuUsage(cpuAt) : undefined;
  const window = (start.endAt - start.warmUntil) / 1000;
  for (const c of clients) c.close();
  for (const t of transports) await t.close().catch(() => {});
  return {
    received,
    violations,
    requests: clients.reduce((n, c) => n + c.stats.requests, 0),
    cpuPct: used ? ((used.user + used.system) / 1e6 / window) * 100 : 0,
    latency: hist.counts,
    samples,
  };
}

/**
 * Pairs of sampled calls, from any processes, where one was answered before the other was asked (on the
 * shared monotonic clock) yet did not get a smaller timestamp: each is a real-time order violation.
 */
export function realTimeViolations(perProcess: readonly (readonly number[])[]): number {
  const calls: Array<{ asked: number; answered: number; ts: number }> = [];
  for (const s of perProcess)
    for (let i = 0; i + 2 < s.length; i += 3)
      calls.push({ asked: s[i]!, answered: s[i + 1]!, ts: s[i + 2]! });
  const byAnswer = [...calls].sort((a, b) => a.answered - b.answered);
  const byAsk = [...calls].sort((a, b) => a.asked - b.asked);
  let maxBefore = Number.NEGATIVE_INFINITY;
  let j = 0;
  let bad = 0;
  for (const c of byAsk) {
    while (j < byAnswer.length && byAnswer[j]!.answered < c.asked)
      maxBefore = Math.max(maxBefore, byAnswer[j++]!.ts);
    if (c.ts <= maxBefore) bad++;
  }
  return bad;
}
