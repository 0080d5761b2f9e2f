// `palf bench append` (`pnpm bench append`): appends through the client SDK against an existing cluster
// (`--nats URL[,URL...] --nodes n1,n2,n3`, palfctl's credentials) or, without --nats, a cluster it starts
// on this machine (nats-server + N palfd processes, fsync on). It creates the groups it needs (again and
// again: creation is idempotent), warms up for `--warmup` seconds, then measures `--seconds` or `--count`
// appends: open loop at `--rate` appends/s (latency from each append's intended send time, so a stall is
// charged to every append it delayed) or closed loop without it (`--inflight` appends always in flight).
// `--publishers` client connections per process, `--clients` processes, `--size 64,256,4096` a mix,
// `--readers tail|cdc` readers in the same run. A live progress bar, a summary table, with `--out DIR` a
// CSV, an HDR log and an HTML report (run-report.ts); the last line of stdout is one JSON line:
// {"ackedPerS","MBps","p50Ms","p99Ms","errors", ...}
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type ConnectOptions, connect, type PalfClient } from "@palf/client";
import { type BenchCluster, CLUSTER, createRealBenchCluster, nodeCounters } from "@palf/harness";
import { type LoadShare, type RunTiming, runAppendLoad } from "./append-load.ts";
import {
  type AuthSpec,
  connectOptionsOf,
  ensureGroups,
  parseNodes,
  parseServers,
  type TargetSpec,
  waitGroupsLed,
} from "./bench-target.ts";
import { printProfiles, profilingEnv } from "./cpu-profiles.ts";
import { CpuWindow } from "./cpu-window.ts";
import { type FlagSpec, nonNegative, positiveInt, positiveIntList, UsageError } from "./flags.ts";
import { LiveProgress } from "./live-progress.ts";
import { loopWork } from "./loop-work.ts";
import { childPids } from "./proc-stats.ts";
import { type ReaderKind, type RunningReaders, startReaders } from "./readers.ts";
import { round } from "./rounding.ts";
import { percentileMs, RunRecorder, type SecondJson, SecondStats } from "./run-recorder.ts";
import { summaryTable, writeReport } from "./run-report.ts";

const mainTs = fileURLToPath(new URL("./main.ts", import.meta.url));

/** The flags of `append` (parsed by parseArgs here, listed by `--help`). */
export const flags = {
  nats: {
    type: "string",
    arg: "urls",
    help: "drive an existing cluster at these NATS URL(s), comma-separated",
  },
  nodes: {
    type: "string",
    default: "3",
    arg: "n|ids",
    help: "the cluster's node ids (n1,n2,n3), or how many to start without --nats",
  },
  cluster: { type: "string", default: CLUSTER, arg: "name", help: "cluster name (palf.<name>.* subjects)" },
  user: { type: "string", arg: "user", help: "NATS user (or PALF_NATS_USER)" },
  "pass-file": {
    type: "string",
    arg: "file",
    help: "file holding the NATS password (or PALF_NATS_PASS)",
  },
  "token-file": { type: "string", arg: "file", help: "file holding the NATS token (or PALF_NATS_TOKEN)" },
  creds: { type: "string", arg: "file", help: "NATS credentials file (JWT + nkey seed)" },
  "tls-ca": { type: "string", arg: "file", help: "CA certificate for TLS to NATS" },
  "tls-cert": { type: "string", arg: "file", help: "client certificate for TLS to NATS" },
  "tls-key": { type: "string", arg: "file", help: "client key for TLS to NATS" },
  groups: { type: "string", default: "100", arg: "n", help: "groups to append to (created if missing)" },
  "first-group": { type: "string", default: "1", arg: "id", help: "id of the first bench group" },
  size: {
    type: "string",
    default: "256",
    arg: "bytes[,bytes...]",
    help: "payload size, or a mix picked evenly",
  },
  rate: { type: "string", arg: "n", help: "target appends/s in total (open loop); without it: closed loop" },
  inflight: { type: "string", default: "512", arg: "n", help: "appends in flight at most, in total" },
  publishers: { type: "string", default: "1", arg: "n", help: "client connections per client process" },
  clients: { type: "string", default: "1", arg: "n", help: "client processes (1: this process)" },
  seconds: { type: "string", arg: "s", help: "measure this long (default 10)" },
  count: { type: "string", arg: "n", help: "measure this many appends instead of --seconds" },
  warmup: { type: "string", default: "3", arg: "s", help: "seconds of load before measuring" },
  readers: {
    type: "string",
    arg: "tail|cdc",
    help: "also read the bench groups (tail each, or one CDC stream)",
  },
  out: {
    type: "string",
    arg: "dir",
    help: "write per-second.csv, latency.hlog, summary.json, report.html here",
  },
  shards: { type: "string", arg: "n", help: "shards per palfd (local cluster only)" },
  "lease-ms": { type: "string", default: "2000", arg: "ms", help: "leader lease (local cluster only)" },
  "max-batch": { type: "string", arg: "n", help: "appends per client request at most" },
  profile: {
    type: "string",
    arg: "dir",
    help: "V8 CPU profiles of every palfd and the client (local cluster only)",
  },
  worker: { type: "string", hidden: true, help: "internal: run as a client process with this JSON spec" },
} as const satisfies FlagSpec;

/** What a client process gets (credentials as file paths only: argv is visible in ps). */
interface WorkerSpec {
  readonly target: TargetSpec;
  readonly load: LoadShare;
  readonly publishers: number;
  readonly maxBatch?: number;
}

/** What a client process reports at its end (its CPU in % of a core over the measured part). */
interface WorkerDone {
  readonly sent: number;
  readonly lastEndMs: number;
  readonly cpuPct: number;
}

/** A client process's stdout: ready (connected), its finished seconds, then its end. */
type WorkerLine = { ready: true } | { seconds: SecondJson[] } | { done: WorkerDone };

function clientTuning(inflight: number, maxBatch: number | undefined): Partial<ConnectOptions> {
  // Many requests per group in flight: the node keeps a window of seqs per session.
  return { maxInFlight: Math.max(64, inflight), ...(maxBatch ? { maxBatchItems: maxBatch } : {}) };
}

export async function main(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({ args: argv, options: flags, strict: true });
  if (v.worker) return worker(JSON.parse(v.worker) as WorkerSpec);

  const nodes = parseNodes(v.nodes);
  const groups = positiveInt("groups", v.groups);
  const firstGroup = positiveInt("first-group", v["first-group"]);
  const sizes = positiveIntList("size", v.size);
  const inflight = positiveInt("inflight", v.inflight);
  const publishers = positiveInt("publishers", v.publishers);
  const clients = positiveInt("clients", v.clients);
  const rate = v.rate === undefined ? undefined : positiveInt("rate", v.rate);
  if (v.seconds !== undefined && v.count !== undefined)
    throw new UsageError("give --seconds or --count, not both");
  const count = v.count === undefined ? undefined : positiveInt("count", v.count);
  const seconds = count === undefined ? positiveInt("seconds", v.seconds ?? "10") : undefined;
  const warmup = nonNegative("warmup", v.warmup);
  const maxBatch = v["max-batch"] ? positiveInt("max-batch", v["max-batch"]) : undefined;
  if (v.readers !== undefined && v.readers !== "tail" && v.readers !== "cdc")
    throw new UsageError(`--readers must be tail or cdc, got ${v.readers}`);
  const readers = v.readers as ReaderKind | undefined;
  if (inflight < clients) throw new UsageError("--inflight must be at least --clients");
  const existing = v.nats !== undefined;
  if (existing && (v.shards || v.profile))
    throw new UsageError("--shards and --profile are for the local cluster (without --nats)");
  const auth: AuthSpec = {
    ...(v.user ? { user: v.user } : {}),
    ...(v["pass-file"] ? { passFile: v["pass-file"] } : {}),
    ...(v["token-file"] ? { tokenFile: v["token-file"] } : {}),
    ...(v.creds ? { credsFile: v.creds } : {}),
    ...(v["tls-ca"] ? { tlsCa: v["tls-ca"] } : {}),
    ...(v["tls-cert"] ? { tlsCert: v["tls-cert"] } : {}),
    ...(v["tls-key"] ? { tlsKey: v["tls-key"] } : {}),
  };
  const profileDir = v.profile ? path.resolve(v.profile) : undefined;
  if (profileDir) fs.mkdirSync(profileDir, { recursive: true });
  const outDir = v.out ? path.resolve(v.out) : undefined;

  let local: BenchCluster | undefined;
  // Without --nats the local cluster's URL is filled in once it has started.
  let target: TargetSpec = { cluster: CLUSTER, nodes, servers: [], auth };
  if (existing) {
    target = { cluster: v.cluster, nodes, servers: parseServers(v.nats!), auth };
    connectOptionsOf(target); // unreadable secret files are a usage error before anything starts
  } else {
    local = createRealBenchCluster({
      nodes,
      leaseMs: positiveInt("lease-ms", v["lease-ms"]),
      ...(v.shards ? { shards: positiveInt("shards", v.shards) } : {}),
      ...(profileDir ? { env: profilingEnv(profileDir) } : {}),
    });
  }
  const opened: PalfClient[] = [];
  const open = async (extra: Partial<ConnectOptions> = {}) => {
    const c = await connect({ ...connectOptionsOf(target), ...extra });
    opened.push(c);
    return c;
  };
  let running: RunningReaders | undefined;
  try {
    if (local) {
      await local.start();
      target = { cluster: CLUSTER, nodes, servers: [local.natsUrl], auth: {} };
    }
    const admin = await open({ requestTimeoutMs: 3000, operationTimeoutMs: 10_000 });
    const ids = Array.from({ length: groups }, (_, i) => firstGroup + i);
    const { foreign } = await ensureGroups(admin, readers === "cdc" ? [0, ...ids] : ids, nodes);
    if (foreign > 0)
      console.error(`[append] ${foreign} group(s) already existed (created elsewhere); using them`);
    const ledMs = await waitGroupsLed(admin, readers === "cdc" ? [0, ...ids] : ids, nodes, 120_000);
    const where = existing ? `the cluster at ${v.nats}` : `a local cluster of ${nodes.length} palfd`;
    console.error(
      `[append] ${groups} groups led on ${where} (${Math.round(ledMs)} ms); ${clients} client process(es) x ${publishers} publisher(s), ${rate === undefined ? "closed loop" : `open loop at ${rate}/s`}`,
    );

    const recorder = new RunRecorder();
    if (readers) running = await startReaders(readers, await open(), ids, recorder);

    const share = (total: number, i: number) =>
      Math.floor(((i + 1) * total) / clients) - Math.floor((i * total) / clients);
    const shareOf = (i: number): LoadShare => ({
      groups,
      firstGroup,
      sizes,
      inflight: share(inflight, i),
      ...(rate === undefined ? {} : { rate: rate / clients }),
      ...(count === undefined ? {} : { count: share(count, i) }),
      processIndex: i,
      processes: clients,
      ...(readers ? { stamp: true } : {}),
    });
    // Every client connects first; the clock starts once all are ready, so start-up is never measured.
    const pubs =
      clients === 1
        ? await Promise.all(Array.from({ length: publishers }, () => open(clientTuning(inflight, maxBatch))))
        : [];
    const workers = await Promise.all(
      Array.from({ length: clients === 1 ? 0 : clients }, (_, i) =>
        startWorker({ target, load: shareOf(i), publishers, ...(maxBatch ? { maxBatch } : {}) }, i, recorder),
      ),
    );
    const measureFromMs = Date.now() + 200 + warmup * 1000;
    const measureToMs = seconds === undefined ? undefined : measureFromMs + seconds * 1000;
    const timing: RunTiming = { measureFromMs, ...(measureToMs === undefined ? {} : { measureToMs }) };
    recorder.start(measureFromMs);
    const results: Array<Promise<WorkerDone>> =
      clients === 1
        ? [runAppendLoad(pubs, { ...shareOf(0), ...timing }, recorder).then((r) => ({ ...r, cpuPct: 0 }))]
        : workers.map((w) => w.run(timing));

    // CPU of the local processes over the measured part.
    const pids = new Map<string, number>(local?.pids() ?? []);
    const nats = local ? childPids("nats-server")[0] : undefined;
    if (nats) pids.set("nats", nats);
    const cpuWindow = new CpuWindow(pids, local && profileDir ? [...local.pids().keys()] : [], profileDir);
    let counters0: Promise<Map<string, Record<string, number>>> | undefined;
    let cpuWindowOpen = false;
    const cpuStart = setTimeout(
      async () => {
        cpuWindowOpen = true;
        counters0 = nodeCounters(admin, nodes);
        await cpuWindow.start();
      },
      Math.max(0, measureFromMs - Date.now()),
    );

    const progress = new LiveProgress(seconds ?? count!, seconds === undefined ? "appends" : "s");
    const tick = setInterval(() => {
      const now = Date.now();
      const last = recorder.peek(recorder.secondOf(now) - 1) ?? new SecondStats();
      const total = recorder.counts;
      progress.update({
        done: seconds === undefined ? total.acked + total.errors : Math.max(0, (now - measureFromMs) / 1000),
        rate: last.acked,
        p99Ms: percentileMs(last.latency, 99),
        errors: total.errors,
        ...(readers ? { readRate: last.delivered } : {}),
      });
    }, 250);
    let sent = 0;
    let lastEndMs = measureFromMs;
    let completed = false;
    const cpuPct: Record<string, number> = {};
    try {
      for (const [i, r] of (await Promise.all(results)).entries()) {
        sent += r.sent;
        lastEndMs = Math.max(lastEndMs, r.lastEndMs);
        if (clients > 1) cpuPct[`client${i + 1}`] = round(r.cpuPct);
      }
      completed = true;
    } finally {
      clearInterval(tick);
      clearTimeout(cpuStart);
      progress.stop(completed);
    }
    const loadEndMs = Date.now();
    // Each node's loop work over the measured part (turns, groups and messages per turn, frames/s).
    const loop: Record<string, Record<string, number>> = {};
    if (counters0) {
      const [a, b] = [await counters0, await nodeCounters(admin, nodes)];
      const window = (loadEndMs - measureFromMs) / 1000;
      for (const n of nodes) if (a.get(n) && b.get(n)) loop[n] = loopWork(a.get(n)!, b.get(n)!, window);
      const sent = [...b.keys()].reduce(
        (t, n) => t + (b.get(n)!.messagesOut ?? 0) - (a.get(n)?.messagesOut ?? 0),
        0,
      );
      const committed = [...b.keys()].reduce(
        (t, n) => t + (b.get(n)!.committed ?? 0) - (a.get(n)?.committed ?? 0),
        0,
      );
      if (committed > 0) loop.cluster = { peerMessagesPerCommittedAppend: round(sent / committed, 2) };
    }
    const elapsedS = Math.max(
      0.001,
      (seconds === undefined ? lastEndMs - measureFromMs : seconds * 1000) / 1000,
    );
    if (cpuWindowOpen) {
      const window = (loadEndMs - measureFromMs) / 1000;
      for (const [n, cpuS] of Object.entries(await cpuWindow.stop())) {
        const name = n !== "bench" ? n : clients === 1 ? "client (bench process)" : "bench process";
        cpuPct[name] = round((cpuS / window) * 100);
      }
    }

    let readerFailures: string[] = [];
    if (running) {
      // Let the readers catch up with what was acknowledged (bounded), then stop them.
      const until = Date.now() + 5000;
      while (Date.now() < until && recorder.counts.delivered < recorder.counts.acked)
        await new Promise((r) => setTimeout(r, 100));
      await running.stop();
      readerFailures = running.failures;
      running = undefined;
    }

    const total = recorder.total();
    const errorsByCode = total.errors;
    // Where the time went, and each process's CPU per 1000 acked appends over the profiled (measured) part.
    const profileCost = profileDir
      ? printProfiles(profileDir, "append", { count: total.acked, what: "acked appends" })
      : undefined;
    const summary = {
      bench: "append",
      ackedPerS: Math.round(total.acked / elapsedS),
      MBps: round(total.bytes / elapsedS / 1e6, 2),
      p50Ms: round(percentileMs(total.latency, 50), 2),
      p99Ms: round(percentileMs(total.latency, 99), 2),
      errors: total.errorCount(),
      errorsByCode,
      p90Ms: round(percentileMs(total.latency, 90), 2),
      p999Ms: round(percentileMs(total.latency, 99.9), 2),
      maxMs: round(total.latency.maxValue / 1000, 2),
      serviceP99Ms: round(percentileMs(total.service, 99), 2),
      acked: total.acked,
      sent,
      mode: rate === undefined ? "closed-loop" : "open-loop",
      ...(rate === undefined ? {} : { rate }),
      target: existing ? "existing" : "local",
      nodes: nodes.length,
      groups,
      size: sizes.length === 1 ? sizes[0] : sizes,
      inflight,
      publishers,
      clientProcesses: clients === 1 ? "1 (the bench process itself)" : clients,
      ...(seconds === undefined ? { count } : { seconds }),
      measuredSeconds: round(elapsedS, 2),
      warmupSeconds: warmup,
      ...(readers
        ? {
            readers: {
              kind: readers,
              deliveredPerS: Math.round(total.delivered / elapsedS),
              lagP50Ms: round(percentileMs(total.lag, 50), 2),
              lagP99Ms: round(percentileMs(total.lag, 99), 2),
              failures: readerFailures.length,
            },
          }
        : {}),
      ...(local ? { cpuPct } : {}),
      ...(profileCost ? { profileCpuMsPer1000Acked: profileCost } : {}),
      ...(Object.keys(loop).length > 0 ? { loop } : {}),
      ...(outDir ? { out: outDir } : {}),
    };
    for (const f of readerFailures.slice(0, 5)) console.error(`[append] reader: ${f}`);
    if (outDir) {
      const files = await writeReport(outDir, recorder, summary, {
        title: `palf bench append: ${summary.mode}${rate === undefined ? "" : ` at ${rate}/s`}, ${groups} groups, ${nodes.length} nodes`,
        ...(rate === undefined ? {} : { targetRate: rate }),
      });
      console.error(`[append] wrote ${files.join(", ")}`);
    }
    console.log(summaryTable(summary));
    console.log(JSON.stringify(summary));
  } finally {
    await running?.stop().catch(() => {});
    for (const c of opened) await c.close().catch(() => {});
    await local?.stop();
  }
}

interface RunningWorker {
  /** Hands the worker the run's timing; resolves with its result once it has finished. */
  run(timing: RunTiming): Promise<WorkerDone>;
}

/**
 * Starts one client process and resolves once it has connected. Its finished seconds flow into `recorder`
 * as they arrive; the timing goes to it on stdin (one JSON line).
 */
function startWorker(spec: WorkerSpec, i: number, recorder: RunRecorder): Promise<RunningWorker> {
  const child = spawn(
    process.execPath,
    ["--import", "tsx", mainTs, "append", "--worker", JSON.stringify(spec)],
    { stdio: ["pipe", "pipe", "inherit"] },
  );
  let ready: () => void = () => {};
  let done: WorkerDone | undefined;
  readline.createInterface({ input: child.stdout! }).on("line", (line) => {
    const msg = JSON.parse(line) as WorkerLine;
    if ("ready" in msg) ready();
    else if ("seconds" in msg) for (const s of msg.seconds) recorder.mergeJson(s);
    else done = msg.done;
  });
  const exited = new Promise<WorkerDone>((resolve, reject) => {
    child.once("close", (code) => {
      if (code === 0 && done) resolve(done);
      else reject(new Error(`client process ${i} exited with ${code}`));
    });
  });
  exited.catch(() => {}); // observed through start or run
  return Promise.race([
    new Promise<RunningWorker>((resolve) => {
      ready = () =>
        resolve({
          run(timing) {
            child.stdin!.end(`${JSON.stringify(timing)}\n`);
            return exited;
          },
        });
    }),
    exited.then(() => Promise.reject(new Error(`client process ${i} ended before it was ready`))),
  ]);
}

/**
 * A client process: connects its publishers, says it is ready, reads the run's timing from stdin, runs its
 * share of the load and writes its finished seconds and its end to stdout as JSON lines.
 */
async function worker(spec: WorkerSpec): Promise<void> {
  const recorder = new RunRecorder();
  const pubs = await Promise.all(
    Array.from({ length: spec.publishers }, () =>
      connect({ ...connectOptionsOf(spec.target), ...clientTuning(spec.load.inflight, spec.maxBatch) }),
    ),
  );
  const emit = (line: WorkerLine) => process.stdout.write(`${JSON.stringify(line)}\n`);
  emit({ ready: true });
  const first = await readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]().next();
  const timing = JSON.parse(String(first.value)) as RunTiming;
  recorder.start(timing.measureFromMs);
  let cpuAt: NodeJS.CpuUsage | undefined;
  const cpuStart = setTimeout(
    () => {
      cpuAt = process.cpuUsage();
    },
    Math.max(0, timing.measureFromMs - Date.now()),
  );
  const flush = setInterval(() => {
    const seconds = recorder.takeJson(recorder.secondOf(Date.now()));
    if (seconds.length > 0) emit({ seconds });
  }, 1000);
  const r = await runAppendLoad(pubs, { ...spec.load, ...timing }, recorder);
  clearInterval(flush);
  clearTimeout(cpuStart);
  const used = cpuAt ? process.cpuUsage(cpuAt) : undefined;
  const window = (Date.now() - timing.measureFromMs) / 1000;
  emit({ seconds: recorder.takeJson() });
  emit({ done: { ...r, cpuPct: used && window > 0 ? ((used.user + used.system) / 1e6 / window) * 100 : 0 } });
  for (const p of pubs) await p.close();
  process.stdout.write("", () => process.exit(0));
}
