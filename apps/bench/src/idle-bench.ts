// `pnpm bench idle --nodes 3 --groups 10000 --seconds 20`: a real cluster on this machine (nats-server + N
// palfd processes) where every node holds a replica of every group and nothing is appended. Waits until
// every group has a leader, then measures each palfd's CPU (utime + stime from /proc/<pid>/stat) over the
// steady-state window and samples its RSS (/proc/<pid>/status) every second. Target: every group led,
// <= 5% of a core and <= 1 GB per node. Per-round counts show what an idle node still does: loop turns,
// replica ticks (per-group timers), renewals and full lease sets, watermark rounds and the groups they
// looked at. Memory: RSS before any group exists and after, per group; with --inflight N, the RSS growth
// while N appends are kept in flight, per append; with --heap DIR, n1's heap by class at the end. Ends
// with one JSON line: {"leaders","cpuPctMax","rssMbMax","bytesPerGroup", ...}
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import {
  type BenchCluster,
  createGroups,
  createRealBenchCluster,
  leaderCounts,
  nodeCounters,
  rateOf,
  sleep,
  totalLeaders,
  waitAllLed,
} from "@palf/harness";
import { printProfiles, profilingEnv, waitForProfiles } from "./cpu-profiles.ts";
import { type FlagSpec, positiveInt } from "./flags.ts";
import { HEAP_SIGNAL, heapSnapshotOptions, summarizeHeapSnapshot } from "./heap-classes.ts";
import { childPids, cpuSeconds, rssMb } from "./proc-stats.ts";
import { round } from "./rounding.ts";

/** The flags of `idle` (parsed by parseArgs here, listed by `--help`). */
export const flags = {
  nodes: { type: "string", default: "3", help: "palfd processes", arg: "n" },
  groups: { type: "string", default: "10000", help: "groups, a replica on every node", arg: "n" },
  seconds: { type: "string", default: "20", help: "measuring time", arg: "s" },
  "lease-ms": { type: "string", default: "4000", help: "leader lease", arg: "ms" },
  shards: { type: "string", help: "shards per node", arg: "n" },
  profile: { type: "string", help: "write V8 CPU profiles of every palfd here", arg: "dir" },
  heap: {
    type: "string",
    help: "write a heap snapshot of n1 here at the end, summarized by class",
    arg: "dir",
  },
  inflight: {
    type: "string",
    default: "0",
    help: "after the idle window, keep this many appends in flight",
    arg: "n",
  },
  // Also create the GTS group: every node then runs its watermark rounds (a GTS fetch every 50 ms).
  gts: { type: "boolean", default: false, help: "also create the GTS group (watermark rounds run)" },
} as const satisfies FlagSpec;

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: flags,
    strict: true,
  });
  const nodeCount = positiveInt("nodes", values.nodes);
  const groups = positiveInt("groups", values.groups);
  const seconds = positiveInt("seconds", values.seconds);
  const leaseMs = positiveInt("lease-ms", values["lease-ms"]);
  const nodes = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
  const inflight = Number(values.inflight);
  if (!Number.isSafeInteger(inflight) || inflight < 0) throw new Error("--inflight must be a whole number");
  const profileDir = values.profile ? path.resolve(values.profile) : undefined;
  if (profileDir) fs.mkdirSync(profileDir, { recursive: true });
  const heapDir = values.heap ? path.resolve(values.heap) : undefined;
  if (heapDir) fs.mkdirSync(heapDir, { recursive: true });
  const env: Record<string, string> = profileDir ? profilingEnv(profileDir) : {};
  if (heapDir)
    env.NODE_OPTIONS = `${env.NODE_OPTIONS ?? process.env.NODE_OPTIONS ?? ""} ${heapSnapshotOptions(heapDir)}`;
  const cluster = createRealBenchCluster({
    nodes,
    leaseMs,
    ...(Object.keys(env).length > 0 ? { env } : {}),
    ...(values.shards ? { shards: positiveInt("shards", values.shards) } : {}),
  });
  try {
    await cluster.start();
    // Generous: creating 10,000 groups on a loaded machine can keep a node busy for seconds at a time.
    const admin = await cluster.client({
      requestTimeoutMs: 20_000,
      operationTimeoutMs: 40_000,
      maxAttempts: 2,
    });
    // RSS of each palfd before any group exists: the per-group figure is the growth over this.
    const rss0 = new Map([...cluster.pids()].map(([n, pid]) => [n, rssMb(pid) ?? 0]));
    let t = performance.now();
    if (values.gts) await admin.createGroup(0, nodes);
    await createGroups(admin, groups, nodes, 128);
    const createMs = performance.now() - t;
    t = performance.now();
    await waitAllLed(admin, nodes, groups, 120_000);
    const ledMs = performance.now() - t;
    console.error(
      `[idle] ${groups} groups x ${nodeCount} replicas created in ${Math.round(createMs)} ms, all led ${Math.round(ledMs)} ms later`,
    );

    // Steady state: elections over; let the creation burst settle for one lease before measuring.
    await sleep(leaseMs);
    const pids = cluster.pids();
    const nats = childPids("nats-server")[0];
    // The counters are read just outside the CPU window, and nothing asks the nodes anything inside it (a
    // status call walks every group): the window holds the idle work alone. Leaderships won inside it
    // (from the counters) show whether leaderships held.
    const stats0 = await nodeCounters(admin, nodes);
    const cpu0 = new Map([...pids].map(([n, pid]) => [n, cpuSeconds(pid) ?? 0]));
    const nats0 = nats ? (cpuSeconds(nats) ?? 0) : 0;
    const rss = new Map<string, number>();
    if (profileDir) for (const pid of pids.values()) process.kill(pid, "SIGUSR2");
    const t0 = performance.now();
    for (let i = 0; i < seconds; i++) {
      await sleep(1000);
      for (const [n, pid] of pids) rss.set(n, Math.max(rss.get(n) ?? 0, rssMb(pid) ?? 0));
    }
    const window = (performance.now() - t0) / 1000;
    const cpuPct: Record<string, number> = {};
    for (const [n, pid] of pids)
      cpuPct[n] = round((((cpuSeconds(pid) ?? 0) - cpu0.get(n)!) / window) * 100, 2);
    if (profileDir) for (const pid of pids.values()) process.kill(pid, "SIGUSR2");
    const natsPct = nats ? round((((cpuSeconds(nats) ?? 0) - nats0) / window) * 100, 2) : null;
    const stats1 = await nodeCounters(admin, nodes);
    const rates = new Map<string, Record<string, number>>();
    for (const n of nodes) {
      const a = stats0.get(n);
      const b = stats1.get(n);
      if (!a || !b) continue;
      rates.set(n, rateOf(a, b, window));
      console.error(`[idle] ${n} per second: ${JSON.stringify(rates.get(n))}`);
    }
    const maxRate = (k: string) => Math.max(0, ...[...rates.values()].map((r) => r[k] ?? 0));
    const perRound = (a: Record<string, number> | undefined, b: Record<string, number> | undefined) => {
      const rounds = (b?.watermarkRounds ?? 0) - (a?.watermarkRounds ?? 0);
      return rounds > 0 ? round(((b?.watermarkVisited ?? 0) - (a?.watermarkVisited ?? 0)) / rounds, 2) : null;
    };
    const visitedPerRound = nodes.map((n) => perRound(stats0.get(n), stats1.get(n)));
    const counts = await leaderCounts(admin, nodes);
    const leaders = totalLeaders(counts);
    const statuses = await Promise.all(nodes.map((n) => admin.status(n).catch(() => undefined)));
    // Growth over the RSS before any group, per replica the node holds.
    const bytesPerGroup = Object.fromEntries(
      [...rss].map(([n, v]) => [
        n,
        Math.round(((v - rss0.get(n)!) * MiB) / (counts.get(n)?.groups || groups)),
      ]),
    );
    const inflightMem = inflight > 0 ? await inflightMemory(cluster, pids, groups, inflight, rss) : undefined;
    const heap = heapDir
      ? await heapByClass(heapDir, pids.get(nodes[0]!)!, counts.get(nodes[0]!)?.groups || groups)
      : undefined;
    await admin.close();
    const out = {
      leaders,
      cpuPctMax: Math.max(...Object.values(cpuPct)),
      rssMbMax: round(Math.max(...rss.values())),
      bytesPerGroup: Math.max(...Object.values(bytesPerGroup)),
      groups,
      gts: values.gts,
      nodes: nodeCount,
      replicasPerNode: Object.fromEntries([...counts].map(([n, v]) => [n, v.groups])),
      leadersByNode: Object.fromEntries([...counts].map(([n, v]) => [n, v.leaders])),
      leadershipsWonInWindow: nodes.reduce(
        (n, x) => n + (stats1.get(x)?.leaderships ?? 0) - (stats0.get(x)?.leaderships ?? 0),
        0,
      ),
      cpuPct,
      rssMb: Object.fromEntries([...rss].map(([n, v]) => [n, round(v)])),
      rssMbBeforeGroups: Object.fromEntries([...rss0].map(([n, v]) => [n, round(v)])),
      bytesPerGroupByNode: bytesPerGroup,
      ...(inflightMem ? { inflight: inflightMem } : {}),
      turnsPerS: maxRate("turns"),
      ticksPerS: maxRate("ticks"),
      framesSentPerS: maxRate("framesSent"),
      renewalsPerS: maxRate("renewals"),
      fullLeaseSetsPerS: maxRate("fullSets"),
      watermarkRoundsPerS: maxRate("watermarkRounds"),
      watermarkVisitedPerRound: visitedPerRound,
      natsCpuPct: natsPct,
      windowSeconds: round(window),
      leaseMs,
      createMs: Math.round(createMs),
      allLedMs: Math.round(ledMs),
    };
    console.error(
      `[idle] lease hub: ${JSON.stringify(statuses.map((s) => (s as { lease?: unknown } | undefined)?.lease))}`,
    );
    if (profileDir) {
      await waitForProfiles(profileDir, nodes.length);
      printProfiles(profileDir, "idle");
    }
    if (heap) {
      console.error(`[idle] ${nodes[0]} heap: ${JSON.stringify(heap.all)}; largest by class (self size):`);
      for (const c of heap.largest) console.error(`    ${JSON.stringify(c)}`);
      console.error(
        `[idle] ${nodes[0]} classes with about one object per group or more (the per-group structures):`,
      );
      for (const c of heap.perGroupClasses) console.error(`    ${JSON.stringify(c)}`);
    }
    console.log(JSON.stringify(out));
  } finally {
    await cluster.stop();
  }
}

const MiB = 1024 * 1024;

/**
 * Keeps `inflight` appends (256 B, spread over the groups) outstanding for a few seconds and samples each
 * palfd's RSS: the median growth over its idle RSS, per append in flight in the cluster. It includes what
 * the throughput needs besides the appends themselves (WAL batches, frames), which is what a user pays.
 */
async function inflightMemory(
  cluster: BenchCluster,
  pids: Map<string, number>,
  groups: number,
  inflight: number,
  idleRss: Map<string, number>,
): Promise<{ appends: number; acked: number; bytesPerAppend: Record<string, number> }> {
  const client = await cluster.client({ requestTimeoutMs: 5000, operationTimeoutMs: 30_000 });
  const payload = new Uint8Array(256).fill(0x61);
  let running = true;
  let acked = 0;
  const loop = async (k: number) => {
    for (let i = 0; running; i++) {
      await client
        .group(1 + ((k + i * inflight) % groups))
        .append(payload)
        .then(() => acked++)
        .catch(() => {});
    }
  };
  const loops = Array.from({ length: inflight }, (_, k) => loop(k));
  const samples = new Map<string, number[]>();
  await sleep(2000);
  for (let i = 0; i < 6; i++) {
    await sleep(500);
    for (const [n, pid] of pids) samples.set(n, [...(samples.get(n) ?? []), rssMb(pid) ?? 0]);
  }
  running = false;
  await Promise.all(loops);
  await client.close();
  const bytesPerAppend = Object.fromEntries(
    [...samples].map(([n, v]) => {
      const median = [...v].sort((a, b) => a - b)[v.length >> 1]!;
      return [n, Math.round(((median - idleRss.get(n)!) * MiB) / inflight)];
    }),
  );
  return { appends: inflight, acked, bytesPerAppend };
}

/** Writes a heap snapshot of one palfd (signal, then wait for the file) and summarizes it by class. */
async function heapByClass(dir: string, pid: number, groups: number) {
  const before = new Set(fs.readdirSync(dir));
  process.kill(pid, HEAP_SIGNAL);
  let file: string | undefined;
  // The snapshot is written synchronously by the palfd; its file is complete once its size stops growing.
  for (let last = -1, end = Date.now() + 120_000; Date.now() < end; await sleep(1000)) {
    file ??= fs.readdirSync(dir).find((f) => f.endsWith(".heapsnapshot") && !before.has(f));
    if (!file) continue;
    const size = fs.statSync(path.join(dir, file)).size;
    if (size > 0 && size === last) break;
    last = size;
  }
  if (!file) throw new Error(`no heap snapshot from pid ${pid} in ${dir}`);
  // Classes with about one object per group or more are the per-group structures, whatever their size.
  const s = await summarizeHeapSnapshot(path.join(dir, file), 15, Math.floor(groups * 0.9));
  const perGroup = (c: { name: string; count: number; bytes: number }) => ({
    name: c.name,
    count: c.count,
    mb: round(c.bytes / MiB),
    bytesPerGroup: Math.round(c.bytes / groups),
    perGroup: round(c.count / groups, 2),
  });
  return {
    all: { count: s.objects, mb: round(s.bytes / MiB), bytesPerGroup: Math.round(s.bytes / groups) },
    largest: s.classes.map(perGroup),
    perGroupClasses: s.common.map(perGroup),
  };
}
