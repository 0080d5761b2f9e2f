// `pnpm bench kv --workload bank|single|list-append --accounts 1000 --concurrency 256 --seconds 15`: the
// transactional store on this machine (nats-server + 3 palfd, fsync on, + store servers), a workload through
// the SDK for the given time, a transaction-CDC reader keeping its own copy of the balances (bank), and the
// checks at the end. Ends with one JSON line:
// {"txnPerS","abortsPerS","p50Ms","p99Ms","invariantViolations","cdcViolations", ...}
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { sleep } from "@palf/harness";
import {
  commitStats,
  type Kv,
  type KvCallCounts,
  type ReadFence,
  type RemoteKvService,
  readFenceKinds,
  type TxnChange,
} from "@palf/kv";
import { accountNames, initAccounts, quantile, runBank, snapshotRead } from "@palf/kv-app/bank-workload";
import { runListAppend } from "@palf/kv-app/list-append-workload";
import { LocalStore } from "@palf/kv-app/local-store";
import { checkBank, checkListAppend } from "@palf/testkit";
import { printProfiles, profilingEnv } from "./cpu-profiles.ts";
import { CpuWindow } from "./cpu-window.ts";
import { type FlagSpec, positiveInt, UsageError } from "./flags.ts";
import { childPids } from "./proc-stats.ts";
import { round } from "./rounding.ts";

/** The flags of `kv` (parsed by parseArgs here, listed by `--help`). */
export const flags = {
  workload: { type: "string", default: "bank", help: "bank | single | list-append", arg: "name" },
  accounts: { type: "string", default: "1000", help: "accounts (bank) or keys", arg: "n" },
  concurrency: { type: "string", default: "256", help: "transactions in flight", arg: "n" },
  seconds: { type: "string", default: "15", help: "length of the measured run", arg: "s" },
  partitions: { type: "string", default: "8", help: "partitions (PALF groups) of the store", arg: "n" },
  servers: { type: "string", default: "2", help: "store servers", arg: "n" },
  "read-fence": { type: "string", default: "leader", help: readFenceKinds.join(" | "), arg: "kind" },
  profile: {
    type: "string",
    help: "V8 CPU profiles of the bench, every store server and palfd over the measured run",
    arg: "dir",
  },
} satisfies FlagSpec;

interface CostMark {
  readonly calls: KvCallCounts;
  /** Summed over the store servers: pages of committed entries read from PALF, read fences asked. */
  readonly servers: { pagesRead: number; fences: number };
  readonly rpc: { requests: number; bytesSent: number; bytesReceived: number };
  readonly attempts: number;
}

async function costMark(
  store: LocalStore,
  kv: Kv,
  calls: KvCallCounts,
  service: RemoteKvService | undefined,
): Promise<CostMark> {
  const servers = { pagesRead: 0, fences: 0 };
  for (const id of store.servers) {
    const st = (await store.serverStatus(id).catch(() => undefined)) as
      | { partitions?: Array<{ pagesRead?: number; fences?: number }> }
      | undefined;
    for (const p of st?.partitions ?? []) {
      servers.pagesRead += p.pagesRead ?? 0;
      servers.fences += p.fences ?? 0;
    }
  }
  return {
    calls: { ...calls },
    servers,
    rpc: { ...(service?.stats ?? { requests: 0, bytesSent: 0, bytesReceived: 0 }) },
    attempts: kv.stats.committed + kv.stats.conflicts + kv.stats.aborts,
  };
}

/** What an attempt (committed or not) of the measured run cost the SDK: calls to GTS, PALF and store servers. */
function perAttempt(from: CostMark, to: CostMark): Record<string, number> {
  const per = (v: number) => round(v / Math.max(1, to.attempts - from.attempts), 2);
  const d = (k: keyof KvCallCounts) => per(to.calls[k] - from.calls[k]);
  return {
    gtsTimestamps: d("timestamps"),
    gtsWaits: d("gtsWaits"),
    appends: d("appends"),
    appendBytes: d("appendBytes"),
    palfReads: d("reads"),
    serverRequests: per(to.rpc.requests - from.rpc.requests),
    serverBytes: per(to.rpc.bytesSent + to.rpc.bytesReceived - from.rpc.bytesSent - from.rpc.bytesReceived),
    // Every store server replays every partition: its pages of the logs, summed over the servers.
    serversPagesRead: per(to.servers.pagesRead - from.servers.pagesRead),
    // Fence requests (leader-answered, or fence appends) the store servers made, summed over them.
    serversFences: per(to.servers.fences - from.servers.fences),
  };
}

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: flags, strict: true });
  const workload = values.workload!;
  if (!["bank", "single", "list-append"].includes(workload))
    throw new UsageError(`--workload must be bank, single or list-append, got ${workload}`);
  const fence = values["read-fence"] as ReadFence;
  if (!readFenceKinds.includes(fence))
    throw new UsageError(`--read-fence must be one of ${readFenceKinds.join(", ")}`);
  const accounts = positiveInt("accounts", values.accounts);
  const concurrency = positiveInt("concurrency", values.concurrency);
  const seconds = positiveInt("seconds", values.seconds);
  const partitions = positiveInt("partitions", values.partitions);
  const servers = Array.from({ length: positiveInt("servers", values.servers) }, (_, i) => `kv${i + 1}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-kv-bench-"));
  const profileDir = values.profile ? path.resolve(values.profile) : undefined;
  if (profileDir) fs.mkdirSync(profileDir, { recursive: true });
  const store = new LocalStore({
    dataDir: dir,
    partitions,
    servers,
    readFence: fence,
    ...(profileDir ? { env: profilingEnv(profileDir) } : {}),
  });
  // The local processes whose CPU is measured (and, with --profile, profiled) over the measured run.
  const window = () => {
    const pids = new Map<string, number>();
    for (const [n, p] of [...store.cluster.procs, ...store.procs]) if (p.pid) pids.set(n, p.pid);
    const profiled = [...pids.keys()];
    const nats = childPids("nats-server");
    for (const [i, pid] of nats.entries()) pids.set(nats.length > 1 ? `nats${i + 1}` : "nats", pid);
    return new CpuWindow(pids, profiled, profileDir);
  };
  process.on("exit", () => {
    for (const p of store.cluster.procs.values()) p.kill("SIGKILL");
  });
  try {
    await store.start();
    const { kv, close, counts, service } = await store.openKv({ maxAttempts: 50 });
    const cdcSide = await store.openKv({ remote: false });
    let stop = false;
    const t0 = performance.now();
    const elapsed = () => (performance.now() - t0) / 1000;
    setTimeout(() => {
      stop = true;
    }, seconds * 1000);
    let out: Record<string, unknown>;
    let start = await costMark(store, kv, counts, service);
    let cost: Record<string, number> = {};
    let cpu: CpuWindow | undefined;
    let cpuS: Record<string, number> = {};
    let committedInRun = 0;
    if (workload === "list-append") {
      cpu = window();
      await cpu.start();
      const { history, latenciesMs } = await runListAppend({
        kv,
        keys: accounts,
        concurrency,
        done: () => stop,
        seed: 1,
      });
      const s = elapsed();
      cpuS = await cpu.stop();
      committedInRun = latenciesMs.length;
      cost = perAttempt(start, await costMark(store, kv, counts, service));
      const check = checkListAppend(history as never);
      out = {
        txnPerS: round(latenciesMs.length / s),
        abortsPerS: round((kv.stats.conflicts + kv.stats.aborts) / s),
        p50Ms: round(quantile(latenciesMs, 0.5)),
        p99Ms: round(quantile(latenciesMs, 0.99)),
        invariantViolations: check.anomalies.filter((a) => a.severity === "error").length,
        cdcViolations: 0,
        listAppend: { ok: check.ok, counts: check.counts, txns: history.length },
      };
    } else {
      const names =
        workload === "single" ? accountNames(accounts).map((a) => `single-${a}`) : accountNames(accounts);
      await initAccounts(kv, accountNames(accounts), 100);
      const total = accounts * 100;
      // The CDC copy of the balances must sum to the total after every transaction.
      const copy = new Map<string, number>();
      let copySum = 0;
      let cdcViolations = 0;
      let lastSeen = 0;
      const cdc = cdcSide.kv.changes();
      const following = (async () => {
        for await (const t of cdc as AsyncIterable<TxnChange>) {
          for (const w of t.writes)
            if (w.key.startsWith("acct-")) {
              // A running sum: summing 1000 balances per transaction was a visible part of the bench's CPU.
              const v = Number(w.value);
              copySum += v - (copy.get(w.key) ?? 0);
              copy.set(w.key, v);
            }
          if (copy.size === accounts && copySum !== total) cdcViolations++;
          lastSeen = t.commitVersion;
        }
      })();
      start = await costMark(store, kv, counts, service);
      cpu = window();
      await cpu.start();
      const t1 = performance.now();
      let r: {
        latenciesMs: number[];
        committed: number;
        snapshots: Parameters<typeof checkBank>[0]["reads"];
      };
      if (workload === "single") {
        // Single-key read-modify-write: one partition, one append (one-phase commit).
        const lat: number[] = [];
        let committed = 0;
        await Promise.all(
          Array.from({ length: concurrency }, async (_, w) => {
            for (let i = 0; !stop; i++) {
              const key = names[(w * 7919 + i * 31) % names.length]!;
              const s = performance.now();
              try {
                await kv.txn(async (tx) => {
                  const v = Number((await tx.get(key)) ?? "0");
                  tx.put(key, String(v + 1));
                });
                committed++;
                lat.push(performance.now() - s);
              } catch {
                // Counted by kv.stats.
              }
            }
          }),
        );
        r = { latenciesMs: lat, committed, snapshots: [] };
      } else
        r = await runBank({ kv, accounts: names, concurrency, done: () => stop, seed: 1, snapshotEvery: 50 });
      const s = (performance.now() - t1) / 1000;
      cpuS = await cpu.stop();
      committedInRun = r.committed;
      cost = perAttempt(start, await costMark(store, kv, counts, service));
      const final = await snapshotRead(kv, accounts);
      const check = checkBank({ initialTotal: total, reads: r.snapshots, finalBalances: final.balances });
      // Let the CDC reader reach the final snapshot (bounded), then compare its copy.
      const deadline = performance.now() + 30_000;
      while (lastSeen < final.snapshot && performance.now() < deadline) {
        if (workload === "single") break;
        await sleep(100);
        if (lastSeen === 0 && copy.size === 0) continue;
        if (copySum === total && [...copy.entries()].every(([k, v]) => final.balances.get(k) === v)) break;
      }
      if (workload === "bank" && [...final.balances.entries()].some(([k, v]) => copy.get(k) !== v))
        cdcViolations++;
      await cdc.close();
      await following.catch(() => undefined);
      out = {
        txnPerS: round(r.committed / s),
        abortsPerS: round((kv.stats.conflicts + kv.stats.aborts) / s),
        p50Ms: round(quantile(r.latenciesMs, 0.5)),
        p99Ms: round(quantile(r.latenciesMs, 0.99)),
        invariantViolations: check.violations.length,
        cdcViolations,
      };
    }
    out = {
      ...out,
      workload,
      accounts,
      concurrency,
      seconds,
      partitions,
      servers: servers.length,
      readFence: fence,
      // Where the time of an attempt goes (ms per attempt, summed phases; commit split for 2PC).
      msPerAttempt: Object.fromEntries(
        Object.entries(kv.phaseMs).map(([k, v]) => [
          k,
          round(v / Math.max(1, kv.stats.committed + kv.stats.conflicts + kv.stats.aborts), 1),
        ]),
      ),
      twoPhaseMs: {
        prepare: round(commitStats.prepareMs / Math.max(1, commitStats.twoPhase), 1),
        outcome: round(commitStats.outcomeMs / Math.max(1, commitStats.twoPhase), 1),
        decide: round(commitStats.decideMs / Math.max(1, commitStats.twoPhase), 1),
      },
      appendsPerTxn: round(
        commitStats.appends / Math.max(1, kv.stats.committed + kv.stats.conflicts + kv.stats.aborts),
        2,
      ),
      // Load-independent cost per attempt of the measured run (counts, not times).
      perAttempt: cost,
      // CPU ms per committed transaction per process over the measured run (bench = SDK + workload + CDC).
      cpuMsPerTxn: Object.fromEntries(
        Object.entries(cpuS).map(([k, v]) => [k, round((v * 1000) / Math.max(1, committedInRun), 3)]),
      ),
      indeterminate: kv.stats.indeterminate,
    };
    if (profileDir) printProfiles(profileDir, `kv ${workload}`);
    console.log(JSON.stringify(out));
    await cdcSide.close();
    await close();
  } finally {
    await store.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
