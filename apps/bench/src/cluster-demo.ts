// `pnpm start`: the main job. A real 3-node cluster on this machine (nats-server + 3 palfd processes; or,
// when nats-server is missing, 3 PalfNodes in this process on the in-memory transport) hosting many PALF
// groups; real appends through the client SDK; kill -9 of the node leading the most groups mid-run; the
// failover, the restart and the catch-up; a byte-for-byte read-back of acknowledged appends from every
// node; a summary, ending with one JSON line.
import { type CdcEntry, cdcBefore, openCdc } from "@palf/cdc";
import { type PalfClient, PalfError } from "@palf/client";
import {
  type BenchCluster,
  createBenchCluster,
  createGroups,
  groupStatus,
  leaderCounts,
  makePayload,
  natsServerPath,
  pool,
  rpc,
  sleep,
  totalLeaders,
  waitAllLed,
  watchLeaders,
} from "@palf/harness";
import type { Transport } from "@palf/transport";
import cliProgress from "cli-progress";
import { Command, InvalidArgumentError } from "commander";
import { round } from "./rounding.ts";

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
};

const program = new Command()
  .name("pnpm start")
  .description(
    "3-node palf cluster on this machine: appends through the client, kill -9 of the busiest leader, failover, restart, catch-up, read-back",
  )
  .option("--groups <n>", "PALF groups (3 replicas each)", positiveInt, 1000)
  .option(
    "--seconds <s>",
    "how long appends run (the kill is at 1/4, the restart at about 1/2)",
    positiveInt,
    30,
  )
  .option("--size <bytes>", "payload bytes per append (at least 12)", positiveInt, 128)
  .option("--inflight <n>", "appends in flight at once", positiveInt, 256)
  .option("--verify <n>", "acknowledged appends to read back from every node", positiveInt, 1000)
  .option("--data <dir>", "data directory (kept); default a temp dir, removed at the end")
  .option(
    "--memory",
    "run the nodes in this process on the in-memory transport, even if nats-server is installed",
  )
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
  .parse();
const opts = program.opts<{
  groups: number;
  seconds: number;
  size: number;
  inflight: number;
  verify: number;
  data?: string;
  memory?: boolean;
}>();
const G = opts.groups;
const S = opts.seconds * 1000;
const NODES = ["n1", "n2", "n3"];
const LEASE_MS = 2000;

// ------------------------------------------------------------------ output: a progress bar on a terminal, lines otherwise

const t0 = performance.now();
const stamp = () => `[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)}s]`;
const tty = process.stdout.isTTY === true;
let multibar: cliProgress.MultiBar | undefined;
let bar: cliProgress.SingleBar | undefined;
const say = (msg: string) => {
  const line = `${stamp()} ${msg}`;
  if (multibar) multibar.log(`${line}\n`);
  else console.log(line);
};

// ------------------------------------------------------------------ the cluster, and cleanup on any exit

const natsBin = natsServerPath();
if (!natsBin && !opts.memory) {
  console.log(
    "nats-server is NOT installed (apt-get install -y nats-server, or set NATS_SERVER_BIN): running the 3 nodes in this process on the in-memory transport instead of as palfd processes over NATS.",
  );
}
const cluster: BenchCluster = createBenchCluster({
  nodes: NODES,
  leaseMs: LEASE_MS,
  ...(opts.data ? { dataDir: opts.data } : {}),
  ...(opts.memory ? { memory: true } : {}),
});
process.on("exit", () => cluster.killAllNow());
let interrupted = false;
const onSignal = (sig: string) => {
  if (interrupted) return;
  interrupted = true;
  multibar?.stop();
  multibar = undefined;
  console.log(`\n${sig}: stopping the cluster and cleaning up`);
  cluster.killAllNow();
  void cluster.stop().finally(() => process.exit(130));
  setTimeout(() => process.exit(130), 5000).unref();
};
process.on("SIGINT", () => onSignal("SIGINT"));
process.on("SIGTERM", () => onSignal("SIGTERM"));

// ------------------------------------------------------------------ state of the run

const counter = new Int32Array(G + 1); // seqs handed out per group
const acked = { group: [] as number[], lsn: [] as number[], seq: [] as number[] };
const errors: Record<string, number> = {};
let appended = 0;
let leaders = 0;
let leadersBy = "";
let phase = "starting";
let running = false;

async function main(): Promise<void> {
  say(
    cluster.kind === "processes"
      ? `starting nats-server (${natsBin}) and 3 palfd processes (n1, n2, n3), lease ${LEASE_MS} ms, data in ${cluster.dataDir}`
      : `starting 3 PalfNodes in this process on the in-memory transport, lease ${LEASE_MS} ms, data in ${cluster.dataDir}`,
  );
  await cluster.start();
  say("cluster up");
  // A request to a node that was killed meanwhile waits for its timeout before the retry: keep it near one lease.
  const client = await cluster.client({
    // Many requests per group in flight: the node keeps a window of seqs per session.
    maxInFlight: Math.max(64, opts.inflight),
    requestTimeoutMs: LEASE_MS,
  });
  // Status polls must not hang on a dead node: one short try each.
  const admin = await cluster.client({ requestTimeoutMs: 1000, operationTimeoutMs: 1000, maxAttempts: 1 });
  const probe = await cluster.probe();

  let tc = performance.now();
  // Group 0 is the cluster's GTS: timestamps for refCsn, and the CSN floors behind CDC watermarks.
  await client.createGroup(0, NODES);
  await createGroups(client, G, NODES, 64);
  say(`created ${G} groups x 3 replicas in ${Math.round(performance.now() - tc)} ms`);
  tc = performance.now();
  await waitAllLed(admin, NODES, G, 60_000);
  await pollLeaders(admin, NODES);
  say(
    `every group has a leader after ${Math.round(performance.now() - tc)} ms (restart silence of one lease, then elections): ${leadersBy}`,
  );

  // Leader events: when each group got a leader on a surviving node after the kill.
  let killedAt = 0;
  let victim = "";
  const victimGroups = new Set<number>();
  const reLed = new Map<number, number>();
  const unwatch = watchLeaders(probe, (e, at) => {
    if (killedAt > 0 && e.leader !== victim && victimGroups.has(e.group) && !reLed.has(e.group))
      reLed.set(e.group, at - killedAt);
  });

  // A CDC reader over every group follows the whole run, kill and restart included.
  const cdcClient = await cluster.client();
  const cdc = await openCdc(cdcClient, { groups: Array.from({ length: G }, (_, i) => i + 1) });
  const delivered = new Set<string>();
  let cdcOrderViolations = 0;
  let cdcDuplicates = 0;
  const cdcDone = (async () => {
    let last: CdcEntry | undefined;
    for await (const e of cdc) {
      const key = `${e.group}/${e.lsn}`;
      if (delivered.has(key)) cdcDuplicates++;
      delivered.add(key);
      if (last && !cdcBefore(last, e)) cdcOrderViolations++;
      last = e;
    }
  })();

  // ---------------------------------------------------------------- appends
  startBar();
  running = true;
  const runStart = performance.now();
  const drivers = Array.from({ length: opts.inflight }, (_, w) => drive(client, w, opts.inflight));
  const poller = pollLoop(admin);

  // ---------------------------------------------------------------- kill -9 of the busiest leader
  phase = "steady";
  await sleep(S / 4);
  const counts = await leaderCounts(admin, NODES);
  victim = [...counts].sort((a, b) => b[1].leaders - a[1].leaders)[0]![0];
  await pool(
    Array.from({ length: G }, (_, i) => i + 1),
    100,
    async (g) => {
      const s = await groupStatus(probe, victim, g, 2000);
      if (s?.role === "leader") victimGroups.add(g);
    },
  );
  const ackedAtKill = acked.lsn.length;
  killedAt = performance.now();
  await cluster.kill(victim);
  phase = `failover (${victim} killed)`;
  say(
    `kill -9 ${victim}: it led ${victimGroups.size} of ${G} groups (${cluster.kind === "in-process" ? "in process: stopped without handover" : "SIGKILL, no handover"})`,
  );
  const alive = NODES.filter((n) => n !== victim);
  let leaderlessMs = Number.NaN;
  for (;;) {
    const led = totalLeaders(await leaderCounts(admin, alive));
    if (led >= G) {
      leaderlessMs = performance.now() - killedAt;
      break;
    }
    if (performance.now() - killedAt > 60_000) break;
    await sleep(50);
  }
  const reLedMax = Math.max(0, ...reLed.values());
  say(
    Number.isNaN(leaderlessMs)
      ? `NOT every group has a leader 60 s after the kill`
      : `every group has a leader again ${Math.round(leaderlessMs)} ms after the kill (status polls); leader events: ${reLed.size}/${victimGroups.size} of ${victim}'s groups re-led, the last after ${Math.round(reLedMax)} ms`,
  );
  const ackedAtFailover = acked.lsn.length;
  const failoverDoneAt = performance.now();

  // ---------------------------------------------------------------- restart and catch-up
  phase = "appending without one node";
  await sleep(Math.max(1000, runStart + S / 2 - performance.now()));
  phase = `restarting ${victim}`;
  say(`restarting ${victim} from its data dir (appends keep running)`);
  const rs = performance.now();
  await cluster.restart(victim);
  const restartMs = performance.now() - rs;
  phase = `${victim} catching up`;
  say(
    `${victim} is up again after ${Math.round(restartMs)} ms (WAL recovery included); waiting for it to catch up`,
  );
  const catchUp = await waitCaughtUp(client, probe, victim, runStart + S + 30_000);
  say(
    catchUp.pending === 0
      ? `${victim} caught up: for every group its committed end reached the leader's, ${Math.round(catchUp.ms)} ms after it was up`
      : `${victim} did NOT catch up on ${catchUp.pending} groups within the time given`,
  );
  phase = "all 3 nodes";

  // ---------------------------------------------------------------- drain, read back, summary
  await sleep(Math.max(0, runStart + S - performance.now()));
  running = false;
  phase = "draining";
  await Promise.all(drivers);
  const elapsed = (performance.now() - runStart) / 1000;
  poller.stop();
  await poller.done;
  multibar?.stop();
  multibar = undefined;
  unwatch();
  say(`appends stopped: ${appended} appended, ${acked.lsn.length} acknowledged in ${elapsed.toFixed(1)} s`);

  say(`reading back ${Math.min(opts.verify, acked.lsn.length)} acknowledged appends from every node`);
  const verified = await verify(probe, opts.verify);
  for (const [n, v] of Object.entries(verified.byNode))
    say(
      `  ${n}: ${v.ok} identical, ${v.missing} missing, ${v.different} different${v.late ? ` (${v.late} only after the node learnt the commit point)` : ""}`,
    );

  const ackedKeys = acked.group.map((g, i) => `${g}/${acked.lsn[i]}`);
  const cdcDrainUntil = performance.now() + 30_000;
  while (performance.now() < cdcDrainUntil && ackedKeys.some((k) => !delivered.has(k))) await sleep(100);
  const cdcMissing = ackedKeys.filter((k) => !delivered.has(k)).length;
  await cdc.close();
  await cdcDone;
  await cdcClient.close();
  say(
    `CDC (one stream over all ${G} groups in CSN order): ${delivered.size} delivered, ${cdcMissing} acknowledged appends missing, ${cdcOrderViolations} out of order, ${cdcDuplicates} duplicates`,
  );

  await client.close();
  await admin.close();
  const summary = {
    mode: cluster.kind,
    groups: G,
    seconds: round(elapsed),
    appended,
    acked: acked.lsn.length,
    errors,
    ackedPerS: Math.round(acked.lsn.length / elapsed),
    ackedBeforeKill: ackedAtKill,
    ackedDuringFailover: ackedAtFailover - ackedAtKill,
    killed: victim,
    killedLed: victimGroups.size,
    leaderlessMs: Math.round(leaderlessMs),
    leaderEventMaxMs: Math.round(reLedMax),
    restartMs: Math.round(restartMs),
    catchUpMs: catchUp.pending === 0 ? Math.round(catchUp.ms) : null,
    failoverToRestartMs: Math.round(rs - failoverDoneAt),
    verified: verified.ok,
    verifiedSamples: verified.samples,
    verifiedReads: verified.reads,
    cdcDelivered: delivered.size,
    cdcMissing,
    cdcOrderViolations,
    cdcDuplicates,
  };
  say(
    `summary: ${summary.acked} of ${summary.appended} appends acknowledged (${summary.ackedPerS}/s), errors ${JSON.stringify(errors)}, ` +
      `leaderless ${summary.leaderlessMs} ms, catch-up ${summary.catchUpMs} ms, read-back ${verified.ok ? "identical on every node" : "MISMATCH"}`,
  );
  say("stopping the cluster");
  await cluster.stop();
  console.log(JSON.stringify(summary));
  const cdcOk = cdcMissing === 0 && cdcOrderViolations === 0 && cdcDuplicates === 0;
  process.exit(verified.ok && summary.acked > 0 && catchUp.pending === 0 && cdcOk ? 0 : 1);
}

/** One append loop: one append in flight at a time, spread over the groups. */
async function drive(client: PalfClient, w: number, workers: number): Promise<void> {
  for (let k = 0; running; k++) {
    const g = ((w + k * workers) % G) + 1;
    const seq = (counter[g] ?? 0) + 1;
    counter[g] = seq;
    appended++;
    try {
      const r = await client.group(g).append(makePayload(g, seq, opts.size));
      acked.group.push(g);
      acked.lsn.push(r.lsn);
      acked.seq.push(seq);
    } catch (e) {
      const code = e instanceof PalfError ? e.code : "OTHER";
      errors[code] = (errors[code] ?? 0) + 1;
      if (code === "CLOSED") return;
      await sleep(50);
    }
  }
}

async function pollLeaders(admin: PalfClient, nodes: readonly string[]): Promise<void> {
  const counts = await leaderCounts(admin, nodes);
  leaders = totalLeaders(counts);
  leadersBy = NODES.map((n) => `${n}:${counts.get(n)?.leaders ?? "down"}`).join(" ");
}

/** Refreshes the leader counts twice a second (for the bar). */
function pollLoop(admin: PalfClient): { stop(): void; done: Promise<void> } {
  let on = true;
  const done = (async () => {
    while (on) {
      await pollLeaders(admin, NODES);
      await sleep(500);
    }
  })();
  return { stop: () => (on = false), done };
}

function startBar(): void {
  let last = { at: performance.now(), acked: 0 };
  let rate = 0;
  const payload = () => {
    const now = performance.now();
    if (now - last.at >= 1000) {
      rate = Math.round(((acked.lsn.length - last.acked) * 1000) / (now - last.at));
      last = { at: now, acked: acked.lsn.length };
    }
    const errs = Object.values(errors).reduce((a, b) => a + b, 0);
    return { phase, acked: acked.lsn.length, rate, errors: errs, leaders, groups: G, by: leadersBy };
  };
  const format =
    "{bar} {value}/{total}s | {phase} | acked {acked} ({rate}/s) | errors {errors} | leaders {leaders}/{groups} [{by}]";
  const seconds = Math.round(S / 1000);
  const start = performance.now();
  if (tty) {
    multibar = new cliProgress.MultiBar(
      { format, stream: process.stdout, hideCursor: true, clearOnComplete: false, barsize: 20 },
      cliProgress.Presets.shades_classic,
    );
    bar = multibar.create(seconds, 0, payload());
  }
  const tick = setInterval(() => {
    if (!running && phase !== "draining") return clearInterval(tick);
    const value = Math.min(seconds, Math.floor((performance.now() - start) / 1000));
    const p = payload();
    if (bar && multibar) bar.update(value, p);
    else if (value % 2 === 0 && value > 0)
      console.log(
        `${stamp()} ${value}/${seconds}s | ${p.phase} | acked ${p.acked} (${p.rate}/s) | errors ${p.errors} | leaders ${p.leaders}/${G} [${p.by}]`,
      );
    if (!running) clearInterval(tick);
  }, 1000);
}

/**
 * Polls until, for every group, the restarted node's committed end has reached the leader's (the
 * leader is asked first, so its end is a value the follower must reach).
 */
async function waitCaughtUp(
  client: PalfClient,
  probe: Transport,
  node: string,
  deadline: number,
): Promise<{ ms: number; pending: number }> {
  const start = performance.now();
  let pending = Array.from({ length: G }, (_, i) => i + 1);
  let lastReport = start;
  while (pending.length > 0 && performance.now() < deadline && !interrupted) {
    const still: number[] = [];
    await pool(pending, 100, async (g) => {
      let leader = client.leaderOf(g);
      if (!leader || leader === node) leader = (await groupStatus(probe, node, g, 1000))?.leader;
      const lead = leader && leader !== node ? await groupStatus(probe, leader, g, 1000) : undefined;
      const mine = await groupStatus(probe, node, g, 1000);
      if (!lead || !mine || mine.committedEnd < lead.committedEnd) still.push(g);
    });
    pending = still;
    if (pending.length > 0 && performance.now() - lastReport > 2000) {
      lastReport = performance.now();
      say(`  ${node}: ${G - pending.length}/${G} groups caught up`);
    }
    if (pending.length > 0) await sleep(200);
  }
  return { ms: performance.now() - start, pending: pending.length };
}

/**
 * Reads evenly spaced acknowledged appends from every node and compares them byte for byte. A follower
 * learns the commit point a moment after the leader (from its next push or commit info), so an entry it
 * does not return yet is read again for up to 10 s before it counts as missing.
 */
async function verify(probe: Transport, want: number) {
  const total = acked.lsn.length;
  const n = Math.min(want, total);
  const picks = Array.from({ length: n }, (_, i) => Math.floor((i * total) / n));
  const byNode: Record<string, { ok: number; missing: number; different: number; late: number }> = {};
  const problems: string[] = [];
  let reads = 0;
  for (const node of NODES) {
    const v = { ok: 0, missing: 0, different: 0, late: 0 };
    byNode[node] = v;
    await pool(picks, 64, async (i) => {
      const g = acked.group[i]!;
      const lsn = acked.lsn[i]!;
      const until = performance.now() + 10_000;
      for (let attempt = 0; ; attempt++) {
        const res = await rpc(probe, node, { op: "read", group: g, fromLsn: lsn, maxEntries: 1 }, 5000);
        reads++;
        const e = res.ok && res.op === "read" ? res.entries[0] : undefined;
        if (e && e.lsn === lsn) {
          if (Buffer.compare(Buffer.from(e.payload), makePayload(g, acked.seq[i]!, opts.size)) !== 0) {
            v.different++;
            problems.push(`${node} group ${g} lsn ${lsn}: different bytes`);
          } else v.ok++;
          if (attempt > 0) v.late++;
          return;
        }
        if (performance.now() > until) {
          v.missing++;
          const st = await groupStatus(probe, node, g, 2000);
          problems.push(
            `${node} group ${g} lsn ${lsn}: missing (${res.ok ? `committedEnd ${res.op === "read" ? res.committedEnd : "?"}` : res.error.code}; role ${st?.role}, end ${JSON.stringify(st)})`,
          );
          return;
        }
        await sleep(100);
      }
    });
  }
  for (const p of problems.slice(0, 10)) say(`  ${p}`);
  const ok = n > 0 && Object.values(byNode).every((v) => v.ok === n);
  return { ok, samples: n, reads, byNode };
}

main().catch(async (err) => {
  multibar?.stop();
  console.error(`demo failed: ${(err as Error).stack ?? err}`);
  cluster.killAllNow();
  await cluster.stop().catch(() => {});
  process.exit(1);
});
