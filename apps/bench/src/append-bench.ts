// `pnpm bench append --nodes 3 --groups 100 --size 256 --inflight 512 --seconds 10`: a real cluster on this
// machine (nats-server + N palfd processes, fsync on) and appends through the client SDK, `--inflight`
// appends in flight in total (one append per loop, loops spread over the groups), from one client in this
// process or from `--clients K` client processes. Latency is from the append call to its committed ack.
// Counts only what completes inside the measuring window (after `--warmup` seconds).
//
// Prints the CPU each process used in the window, and with `--profile <dir>` a summary of the palfd CPU
// profiles; ends with one JSON line:
// {"ackedPerS","MBps","p50Ms","p99Ms","errors", ...}
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { connect } from "@palf/client";
import {
  CLUSTER,
  cpuSeconds,
  createGroups,
  createRealBenchCluster,
  Histogram,
  nodeCounters,
  rateOf,
  round,
  waitAllLed,
} from "./cluster-kit.ts";
import { positiveInt } from "./flags.ts";
import {
  childPids,
  type LoadOptions,
  type LoadResult,
  printProfiles,
  profilingEnv,
  runLoad,
  startProfile,
  waitForProfiles,
} from "./load.ts";

const mainTs = fileURLToPath(new URL("./main.ts", import.meta.url));

interface WorkerSpec extends LoadOptions {
  readonly servers: string;
  readonly nodes: readonly string[];
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      nodes: { type: "string", default: "3" },
      groups: { type: "string", default: "100" },
      size: { type: "string", default: "256" },
      inflight: { type: "string", default: "512" },
      seconds: { type: "string", default: "10" },
      warmup: { type: "string", default: "3" },
      clients: { type: "string", default: "1" },
      shards: { type: "string" },
      "lease-ms": { type: "string", default: "2000" },
      "max-batch": { type: "string" },
      profile: { type: "string" },
      worker: { type: "string" },
    },
    strict: true,
  });
  if (values.worker) return worker(JSON.parse(values.worker) as WorkerSpec);

  const nodeCount = positiveInt("nodes", values.nodes);
  const groups = positiveInt("groups", values.groups);
  const size = positiveInt("size", values.size);
  const inflight = positiveInt("inflight", values.inflight);
  const seconds = positiveInt("seconds", values.seconds);
  const warmup = Number(values.warmup);
  const clients = positiveInt("clients", values.clients);
  const nodes = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
  const profileDir = values.profile ? path.resolve(values.profile) : undefined;
  if (profileDir) fs.mkdirSync(profileDir, { recursive: true });

  const cluster = createRealBenchCluster({
    nodes,
    leaseMs: positiveInt("lease-ms", values["lease-ms"]),
    ...(values.shards ? { shards: positiveInt("shards", values.shards) } : {}),
    ...(profileDir ? { env: profilingEnv(profileDir) } : {}),
  });
  try {
    await cluster.start();
    const admin = await cluster.client({ requestTimeoutMs: 2000, operationTimeoutMs: 2000, maxAttempts: 1 });
    await createGroups(admin, groups, nodes, 64);
    const ledMs = await waitAllLed(admin, nodes, groups, 60_000);
    console.error(
      `[append] ${groups} groups created and led (${Math.round(ledMs)} ms); ${clients} client(s)`,
    );

    const base = Date.now() + (clients > 1 ? 2500 : 0);
    const measureFrom = base + warmup * 1000;
    const measureTo = measureFrom + seconds * 1000;
    const load = { groups, size, totalLoops: inflight, measureFrom, measureTo };
    const maxBatch = values["max-batch"] ? positiveInt("max-batch", values["max-batch"]) : undefined;

    // CPU of every process over the window.
    const pids = new Map<string, number>(cluster.pids());
    const nats = childPids("nats-server")[0];
    if (nats) pids.set("nats", nats);
    const results: Promise<LoadResult>[] = [];
    const workerPids: number[] = [];
    if (clients === 1) {
      const client = await cluster.client({
        // Many requests per group in flight: the node keeps a window of seqs per session.
        maxInFlight: inflight,
        ...(maxBatch ? { maxBatchItems: maxBatch } : {}),
      });
      results.push(runLoad(client, { ...load, loops: inflight, firstLoop: 0 }).finally(() => client.close()));
    } else {
      const servers = cluster.natsUrl;
      for (let i = 0; i < clients; i++) {
        const first = Math.floor((i * inflight) / clients);
        const next = Math.floor(((i + 1) * inflight) / clients);
        const spec: WorkerSpec = {
          ...load,
          loops: next - first,
          firstLoop: first,
          servers,
          nodes,
          ...(maxBatch ? { maxBatch } : {}),
        };
        const child = spawn(
          process.execPath,
          ["--import", "tsx", mainTs, "append", "--worker", JSON.stringify(spec)],
          { stdio: ["ignore", "pipe", "inherit"] },
        );
        if (child.pid) workerPids.push(child.pid);
        results.push(
          new Promise((resolve, reject) => {
            let out = "";
            child.stdout!.on("data", (d: Buffer) => {
              out += d.toString();
            });
            child.once("exit", (code) => {
              const line = out.trim().split("\n").at(-1);
              if (code === 0 && line) resolve(JSON.parse(line) as LoadResult);
              else reject(new Error(`client process ${i} exited with ${code}`));
            });
          }),
        );
      }
    }
    const cpu0 = new Map<string, number>();
    await sleepUntil(measureFrom);
    const selfAt = process.cpuUsage();
    for (const [n, pid] of pids) cpu0.set(n, cpuSeconds(pid) ?? 0);
    const stats0 = await nodeCounters(admin, nodes);
    const selfProfile = profileDir ? await startProfile() : undefined;
    if (profileDir) for (const pid of cluster.pids().values()) process.kill(pid, "SIGUSR2");
    workerPids.forEach((pid, i) => {
      cpu0.set(`client${i + 1}`, cpuSeconds(pid) ?? 0);
    });
    await sleepUntil(measureTo);
    const cpuPct: Record<string, number> = {};
    for (const [n, pid] of pids) cpuPct[n] = round((((cpuSeconds(pid) ?? 0) - cpu0.get(n)!) / seconds) * 100);
    workerPids.forEach((pid, i) => {
      const k = `client${i + 1}`;
      cpuPct[k] = round((((cpuSeconds(pid) ?? 0) - cpu0.get(k)!) / seconds) * 100);
    });
    if (profileDir) for (const pid of cluster.pids().values()) process.kill(pid, "SIGUSR2");
    if (selfProfile) await selfProfile(path.join(profileDir!, `bench-${process.pid}.cpuprofile`));
    const stats1 = await nodeCounters(admin, nodes);
    for (const n of nodes) {
      const a = stats0.get(n);
      const b = stats1.get(n);
      if (!a || !b) continue;
      console.error(`[append] ${n} per second: ${JSON.stringify(rateOf(a, b, seconds))}`);
    }
    const selfNow = process.cpuUsage(selfAt);
    cpuPct[clients === 1 ? "client (bench process)" : "bench process"] = round(
      ((selfNow.user + selfNow.system) / 1e6 / seconds) * 100,
    );

    const all = await Promise.all(results);
    const hist = new Histogram();
    let acked = 0;
    let bytes = 0;
    const errors: Record<string, number> = {};
    for (const r of all) {
      acked += r.acked;
      bytes += r.bytes;
      hist.merge(new Histogram(r.latency));
      for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    }
    if (profileDir) await waitForProfiles(profileDir, nodes.length + 1);
    await admin.close();
    await cluster.stop();

    const out = {
      ackedPerS: Math.round(acked / seconds),
      MBps: round(bytes / seconds / 1e6, 2),
      p50Ms: round(hist.percentile(50), 2),
      p99Ms: round(hist.percentile(99), 2),
      errors: Object.values(errors).reduce((a, b) => a + b, 0),
      errorsByCode: errors,
      p999Ms: round(hist.percentile(99.9), 2),
      nodes: nodeCount,
      groups,
      size,
      inflight,
      clientProcesses: clients === 1 ? "1 (the bench process itself)" : clients,
      seconds,
      warmupSeconds: warmup,
      cpuPct,
    };
    if (profileDir) printProfiles(profileDir, "append");
    console.log(JSON.stringify(out));
  } finally {
    await cluster.stop();
  }
}

/** A client process: connects, runs its share of the loops, prints its LoadResult as one JSON line. */
async function worker(spec: WorkerSpec & { maxBatch?: number }): Promise<void> {
  const client = await connect({
    cluster: CLUSTER,
    nodes: spec.nodes,
    servers: spec.servers,
    // Many requests per group in flight: the node keeps a window of seqs per session.
    maxInFlight: Math.max(64, spec.loops),
    ...(spec.maxBatch ? { maxBatchItems: spec.maxBatch } : {}),
  });
  const r = await runLoad(client, spec);
  await client.close();
  console.log(JSON.stringify(r));
  process.exit(0);
}

function sleepUntil(at: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));
}
