// `pnpm bench idle --nodes 3 --groups 10000 --seconds 20`: a real cluster on this machine (nats-server + N
// palfd processes) where every node holds a replica of every group and nothing is appended. Waits until
// every group has a leader, then measures each palfd's CPU (utime + stime from /proc/<pid>/stat) over the
// steady-state window and samples its RSS (/proc/<pid>/status) every second. Target: every group led,
// <= 5% of a core and <= 1 GB per node. Ends with one JSON line:
// {"leaders","cpuPctMax","rssMbMax", ...}
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import {
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
  const profileDir = values.profile ? path.resolve(values.profile) : undefined;
  if (profileDir) fs.mkdirSync(profileDir, { recursive: true });
  const cluster = createRealBenchCluster({
    nodes,
    leaseMs,
    ...(profileDir ? { env: profilingEnv(profileDir) } : {}),
    ...(values.shards ? { shards: positiveInt("shards", values.shards) } : {}),
  });
  try {
    await cluster.start();
    const admin = await cluster.client({
      requestTimeoutMs: 5000,
      operationTimeoutMs: 10_000,
      maxAttempts: 2,
    });
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
    const cpu0 = new Map([...pids].map(([n, pid]) => [n, cpuSeconds(pid) ?? 0]));
    const nats0 = nats ? (cpuSeconds(nats) ?? 0) : 0;
    const rss = new Map<string, number>();
    if (profileDir) for (const pid of pids.values()) process.kill(pid, "SIGUSR2");
    const stats0 = await nodeCounters(admin, nodes);
    const t0 = performance.now();
    let minLeaders = Number.POSITIVE_INFINITY;
    for (let i = 0; i < seconds; i++) {
      await sleep(1000);
      for (const [n, pid] of pids) rss.set(n, Math.max(rss.get(n) ?? 0, rssMb(pid) ?? 0));
      // One status call per node every 5 s (cheap) to see that leaderships hold during the window.
      if (i % 5 === 4) minLeaders = Math.min(minLeaders, totalLeaders(await leaderCounts(admin, nodes)));
    }
    const window = (performance.now() - t0) / 1000;
    const stats1 = await nodeCounters(admin, nodes);
    for (const n of nodes) {
      const a = stats0.get(n);
      const b = stats1.get(n);
      if (a && b) console.error(`[idle] ${n} per second: ${JSON.stringify(rateOf(a, b, window))}`);
    }
    const cpuPct: Record<string, number> = {};
    for (const [n, pid] of pids)
      cpuPct[n] = round((((cpuSeconds(pid) ?? 0) - cpu0.get(n)!) / window) * 100, 2);
    if (profileDir) for (const pid of pids.values()) process.kill(pid, "SIGUSR2");
    const natsPct = nats ? round((((cpuSeconds(nats) ?? 0) - nats0) / window) * 100, 2) : null;
    const counts = await leaderCounts(admin, nodes);
    const leaders = totalLeaders(counts);
    const statuses = await Promise.all(nodes.map((n) => admin.status(n).catch(() => undefined)));
    await admin.close();
    const out = {
      leaders,
      cpuPctMax: Math.max(...Object.values(cpuPct)),
      rssMbMax: round(Math.max(...rss.values())),
      groups,
      gts: values.gts,
      nodes: nodeCount,
      replicasPerNode: Object.fromEntries([...counts].map(([n, v]) => [n, v.groups])),
      leadersByNode: Object.fromEntries([...counts].map(([n, v]) => [n, v.leaders])),
      minLeadersDuringWindow: Number.isFinite(minLeaders) ? minLeaders : leaders,
      cpuPct,
      rssMb: Object.fromEntries([...rss].map(([n, v]) => [n, round(v)])),
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
    console.log(JSON.stringify(out));
  } finally {
    await cluster.stop();
  }
}
