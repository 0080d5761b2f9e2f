/**
 * One seeded run of the whole-node simulator: a cluster of real PalfNodes on simulated disks and network,
 * clients appending and reading through the RPC path, random faults (crashes, SIGSTOP pauses, partitions,
 * lossy and slow links, clock jumps, slow and failing fsyncs, leader transfers, recycling), then a healing
 * phase that checks liveness, then the end-of-run checks (log matching, client history, linearizability).
 */
import type { UnsafeSwitches } from "@palf/core";
import type { NodeUnsafeSwitches } from "@palf/node";
import { encodeRpc, isAdminOp, type RpcRequest } from "@palf/transport";
import { drawCommitInfoDelayMs } from "../commit-info-delay.ts";
import { analyzeHistory } from "../history/index.ts";
import { startByzantineClient } from "./byzantine-client.ts";
import { GroupRecreator, type RecreateMode } from "./group-recreate.ts";
import { MembershipChaos, type MembershipMode } from "./membership-chaos.ts";
import { NodeSim, SIM_LEASE } from "./node-sim.ts";
import { startCheckpoints } from "./sim-checkpoints.ts";
import { Appender, type ClientEnv, type ClientOp, Reader } from "./sim-clients.ts";
import { simClient } from "./sim-process.ts";

export interface NodeChaosOptions {
  readonly seed: number;
  /** Machines (default: 3 or 5, chosen by the seed). */
  readonly nodes?: number;
  readonly groups?: number;
  /** Virtual ms of the fault phase (default 15000). */
  readonly chaosMs?: number;
  /** Mean virtual ms between fault actions (default 250). */
  readonly stepMs?: number;
  readonly unsafe?: NodeUnsafeSwitches;
  /** Core rule breaches (guard tests): every replica's ReplicaOptions.unsafe. */
  readonly replicaUnsafe?: Partial<UnsafeSwitches>;
  /** Group deletion and recreation during the chaos (see group-recreate.ts; default "random"). */
  readonly recreate?: RecreateMode;
  /** Allow clock jumps beyond the drift bound (default: one seed in four). */
  readonly bigJumps?: boolean;
  /** Linearizability search steps per group (default 200000). */
  readonly stepBudget?: number;
  /** See NodeSimOptions.recoveryCheck (default on). */
  readonly recoveryCheck?: boolean;
  /**
   * Each shard WAL's disk budget (0: none). Default: a few segments in about a third of the seeds, so the
   * budget is hit often, with regular checkpoints (see sim-checkpoints.ts) freeing room; none in the rest.
   */
  readonly diskBudgetBytes?: number;
  /** Membership changes and a node replace during the chaos (see membership-chaos.ts; default "random"). */
  readonly membership?: MembershipMode;
  /** The "Byzantine client" fault class (byzantine-client.ts): extreme-valued requests during the chaos. */
  readonly byzantineClients?: boolean;
  /** Every replica's commit-info delay (default: drawn from the seed, drawCommitInfoDelayMs). */
  readonly commitInfoDelayMs?: number;
  readonly trace?: (line: string) => void;
}

export interface NodeSeedReport {
  readonly seed: number;
  readonly commitInfoDelayMs: number;
  readonly violations: string[];
  readonly appends: number;
  readonly committed: number;
  readonly failed: number;
  readonly indeterminate: number;
  readonly elections: number;
  readonly rejected: number;
  readonly events: number;
  readonly virtualMs: number;
  readonly reads: number;
  readonly linearizableReads: number;
  readonly crashes: number;
  readonly pauses: number;
  readonly clockJumps: number;
  readonly fatalStops: number;
  readonly ioErrors: number;
  readonly tornWrites: number;
  readonly frames: number;
  /** Groups whose linearizability search ran out of steps (not violations, but not proofs either). */
  readonly linearizabilityUnknown: number;
  /** Groups deleted and created again during the chaos. */
  readonly recreations: number;
  /** Config changes committed during the run (membership-chaos.ts). */
  readonly configChanges: number;
  /** Nodes replaced during the chaos (0 or 1), and groups moved to the replacement by the end. */
  readonly replaces: number;
  readonly movedGroups: number;
  /** Digest of the event times and the client history: two runs of one seed must agree on it. */
  readonly trace: string;
}

/** Runs one seed to completion; never throws (a crash of the simulated code is a violation). */
export async function runNodeChaos(opts: NodeChaosOptions): Promise<NodeSeedReport> {
  const pre = new Prng0(opts.seed);
  const nodes = opts.nodes ?? (pre.chance(0.3) ? 5 : 3);
  // Drawn from a stream of its own, so seeds without a budget run exactly as they did before budgets existed.
  const diskBudgetBytes =
    opts.diskBudgetBytes ?? (new Prng0(opts.seed ^ 0x5bd1e995).chance(0.3) ? SIM_DISK_BUDGET : 0);
  const commitInfoDelayMs = opts.commitInfoDelayMs ?? drawCommitInfoDelayMs(opts.seed);
  const sim = new NodeSim({
    seed: opts.seed,
    commitInfoDelayMs,
    nodes,
    groups: opts.groups ?? 3,
    replicas: nodes >= 5 && pre.chance(0.5) ? 5 : 3,
    ...(opts.unsafe ? { unsafe: opts.unsafe } : {}),
    ...(opts.replicaUnsafe ? { replicaUnsafe: opts.replicaUnsafe } : {}),
    ...(opts.trace ? { trace: opts.trace } : {}),
    ...(opts.recoveryCheck === false ? { recoveryCheck: false } : {}),
    ...(diskBudgetBytes > 0 ? { diskBudgetBytes, segmentBytes: SIM_BUDGET_SEGMENT } : {}),
  });
  const bigJumps = opts.bigJumps ?? pre.chance(0.25);
  const rng = sim.rng;
  const ids = [...sim.hosts.keys()];
  const groups = [...sim.groups.keys()];
  const leaseMs = SIM_LEASE.leaseMs;
  const ops: ClientOp[] = [];
  let issuing = true;
  const env: ClientEnv = {
    sched: sim.sched,
    rng,
    seed: opts.seed,
    members: (g) => sim.groups.get(g)!,
    client: (id, o) => simClient(sim, id, o),
    ops,
    violation: (what) => sim.fail(what),
    issuing: () => issuing,
    phase: (g, inc) => recreator.phase(g, inc),
  };
  let session = opts.seed * 1000;
  /** A group's clients; a recreated group gets new ones (ids "a1x#1": incarnation 1), the old ones stop. */
  const startClients = (g: number, inc: number, at: number): void => {
    const id = (name: string) => (inc === 0 ? name : `${name}#${inc}`);
    new Appender(env, id(`a${g}x`), g, 30, ++session, 2500, inc).start(at);
    new Appender(env, id(`a${g}y`), g, 60, ++session, 2500, inc).start(at + 100);
    new Reader(env, id(`r${g}`), g, 60, false, inc).start(at + 200);
    new Reader(env, id(`t${g}`), g, 80, true, inc).start(at + 300);
  };
  const recreator = new GroupRecreator(sim, opts.seed, startClients);
  const membership = new MembershipChaos(sim, opts.seed, recreator);
  recreator.leaveAlone = (g) => membership.busy(g);

  const onRejection = (reason: unknown) =>
    sim.fail(
      `unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`,
    );
  process.on("unhandledRejection", onRejection);
  try {
    for (const id of ids) sim.start(id);
    for (const g of groups) startClients(g, 0, 2500);

    if (diskBudgetBytes > 0) startCheckpoints(sim, env, recreator, 3000, 2500);
    const chaosFrom = 4000;
    const chaosTo = chaosFrom + (opts.chaosMs ?? 15_000);
    const stepMs = opts.stepMs ?? 250;
    const quiet = { until: 0 };
    for (let t = chaosFrom + rng.next() * stepMs; t < chaosTo; t += rng.next() * stepMs * 2)
      sim.sched.at(t, () => chaosAction(sim, env, bigJumps, recreator, quiet));
    recreator.plan(chaosFrom + 1500, chaosTo - 4000, opts.recreate);
    membership.plan(chaosFrom + 500, chaosTo - 3000, opts.membership);
    if (opts.byzantineClients) startByzantineClient(sim, opts.seed, chaosFrom, chaosTo);
    await sim.sched.run(chaosTo);

    // Heal: no faults, every machine up; the cluster must elect leaders and answer every client.
    heal(sim);
    // Every machine, a replacement and the node it replaced included (which comes back with its old replicas).
    for (const id of sim.hosts.keys()) sim.restart(id);
    const healed = sim.sched.now;
    await sim.sched.run(healed + leaseMs * 4);
    // Every group is led again (at some instant of the next few leases: a rebalancing transfer may be under way).
    const led = new Set<number>();
    const ledBy = healed + leaseMs * 7;
    while (sim.sched.now < ledBy && led.size < groups.length) {
      for (const g of groups) if (sim.leaderOf(g) !== undefined) led.add(g);
      await sim.sched.run(sim.sched.now + 50);
    }
    for (const g of groups) {
      if (!led.has(g)) sim.fail(`liveness: group ${g} has no leader ${leaseMs * 7} ms after healing`);
    }
    issuing = false;
    const deadline = sim.sched.now + leaseMs * 4;
    while (sim.sched.now < deadline && ops.some((op) => op.input.type === "append" && op.ret === undefined))
      await sim.sched.run(sim.sched.now + 100);
    for (const op of ops) {
      if (op.input.type === "append" && op.ret === undefined) {
        sim.fail(
          `liveness: ${op.client}'s append (session ${op.input.session.id}:${op.input.session.seq}, ${op.attempts} attempts) never answered after healing`,
        );
      }
    }
    await sim.sched.run(sim.sched.now + 500);
    // A replaced node still hosting a moved group learns it once it stands: a lease after the removal, plus an election's jitter.
    if (membership.removedAt > 0)
      await sim.sched.run(Math.max(sim.sched.now, membership.removedAt + leaseMs * 3));
    membership.checkDropped();
    sim.checkLogs();
    sim.checker.finish(false);
    sim.collectInfraViolations();
  } catch (err) {
    sim.fail(`crash: ${(err as Error).stack ?? String(err)}`);
  } finally {
    process.off("unhandledRejection", onRejection);
  }

  // Reads learn at their answer whether they were linearizable leader reads (and ops which incarnation
  // served them), so the history is built here.
  const recorder = recreator.history(ops);
  const history = analyzeHistory(recorder.operations, { stepBudget: opts.stepBudget ?? 200_000 });
  for (const v of history.violations) sim.fail(`history: ${v}`);
  const s = history.summary;
  for (const o of recorder.operations) {
    const out = o.output;
    const what =
      out === undefined
        ? "-"
        : out.status === "committed"
          ? `c${out.lsn}/${out.csn}`
          : out.status === "ok"
            ? `r${out.committedEnd}/${out.next}/${out.entries.map((e) => e.lsn).join(",")}`
            : out.status;
    sim.sched.trace.addString(`${o.client}@${o.call}-${o.ret}:${what};`);
  }
  let ioErrors = 0;
  let tornWrites = 0;
  for (const h of sim.hosts.values()) {
    ioErrors += h.disk.stats.ioErrors;
    tornWrites += h.disk.stats.tornWrites;
  }
  return {
    seed: opts.seed,
    commitInfoDelayMs,
    violations: sim.violations,
    appends: s.appends,
    committed: s.committed,
    failed: s.failed,
    indeterminate: s.indeterminate.total,
    elections: sim.checker.elections,
    rejected: sim.checker.rejected,
    events: sim.sched.events,
    virtualMs: Math.round(sim.sched.now),
    reads: s.reads,
    linearizableReads: s.linearizableReads,
    crashes: sim.counts.crashes,
    pauses: sim.counts.pauses,
    clockJumps: sim.counts.jumps,
    fatalStops: sim.counts.fatal,
    ioErrors,
    tornWrites,
    frames: sim.net.stats.frames,
    linearizabilityUnknown: s.linearizability.unknown,
    recreations: recreator.count,
    configChanges: membership.changes,
    replaces: membership.replaced ? 1 : 0,
    movedGroups: membership.replaced?.moved ?? 0,
    trace: sim.sched.trace.value,
  };
}

/** Ends every network and disk fault and marks the run healed (the store simulator's node backend too). */
export function heal(sim: NodeSim): void {
  sim.healed = true;
  const f = sim.net.faults;
  f.blocked.clear();
  f.slowLinks.clear();
  f.episodeCut.clear();
  f.episodeLag.clear();
  f.drop = 0;
  f.duplicate = 0;
  f.slow = 0;
  f.maxDelayMs = 3;
  for (const h of sim.hosts.values()) {
    h.disk.faults.slow = 0;
    h.disk.faults.ioError = 0;
    h.disk.faults.failNext = 0;
    h.disk.faults.failNextSync = 0;
  }
}

/** An admin request (leader transfer, recycling) sent like a client's; its answer is not checked. */
function admin(sim: NodeSim, to: string, req: RpcRequest): void {
  sim.opts.trace?.(`${sim.sched.now.toFixed(3)} admin ${to} ${JSON.stringify(req)}`);
  sim.net.rpc("admin", to, encodeRpc(req), 2000, undefined, isAdminOp(req.op)).catch(() => {});
}

/** `quiet.until`: a scripted episode under way, which no other fault may disturb before then. */
function chaosAction(
  sim: NodeSim,
  env: ClientEnv,
  bigJumps: boolean,
  recreator: GroupRecreator,
  quiet: { until: number },
): void {
  if (sim.sched.now < quiet.until) return;
  const rng = sim.rng;
  const ids = [...sim.hosts.keys()];
  const up = ids.filter((id) => sim.up(id));
  const down = ids.filter((id) => !sim.up(id) && !sim.retired.has(id));
  const f = sim.net.faults;
  const g = rng.pick([...sim.groups.keys()]);
  const roll = rng.next();
  if (roll < 0.08) {
    if (up.length > 1) sim.crash(rng.pick(up));
  } else if (roll < 0.18) {
    if (down.length > 0) sim.restart(rng.pick(down));
  } else if (roll < 0.24) {
    if (up.length > 0)
      sim.pause(rng.pick(up), rng.chance(0.5) ? rng.next() * 1000 : 1000 + rng.next() * 4000);
  } else if (roll < 0.28) {
    // Cut a leader off from its peers (both ways, or one way) while clients still reach it.
    const leader = sim.leaderOf(g);
    if (leader !== undefined) {
      f.blocked.clear();
      const way = rng.next();
      for (const o of ids) {
        if (o === leader) continue;
        if (way < 0.75) f.blocked.add(`${leader}>${o}`);
        if (way >= 0.5) f.blocked.add(`${o}>${leader}`);
      }
    }
  } else if (roll < 0.32) {
    f.blocked.clear();
    const side = new Set(ids.filter(() => rng.chance(0.5)));
    for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) f.blocked.add(`${a}>${b}`);
  } else if (roll < 0.35) {
    const a = rng.pick(ids);
    const b = rng.pick(ids);
    if (a !== b) f.blocked.add(`${a}>${b}`);
  } else if (roll < 0.4) {
    f.blocked.clear();
    f.slowLinks.clear();
  } else if (roll < 0.43) {
    // A congested link (half the time into a leader): everything on it takes hundreds of ms more, lease
    // renewal acks included.
    const b = (rng.chance(0.5) ? sim.leaderOf(g) : undefined) ?? rng.pick(ids);
    const a = rng.pick(ids);
    if (a !== b) f.slowLinks.set(`${a}>${b}`, 200 + rng.next() * 2300);
  } else if (roll < 0.49) {
    f.drop = rng.pick([0, 0, 0.01, 0.05, 0.15]);
    f.duplicate = rng.pick([0, 0.01, 0.05]);
    f.maxDelayMs = rng.pick([1, 3, 10, 50]);
    f.slow = rng.pick([0, 0, 0.01, 0.05, 0.2]);
    f.slowMs = rng.pick([300, 1500, 4000, 6000]);
  } else if (roll < 0.53) {
    // Within the bound the lease guard absorbs: leases must stay exclusive.
    sim.jumpClock(rng.pick(ids), 1 + rng.next() * 15, false);
  } else if (roll < 0.55) {
    if (bigJumps) sim.jumpClock(rng.pick(ids), 300 + rng.next() * 3000, true);
  } else if (roll < 0.57) {
    const host = sim.hosts.get(rng.pick(ids))!;
    host.disk.faults.slow = rng.pick([0, 0.1, 0.5]);
    host.disk.faults.slowMs = rng.pick([50, 300, 1500]);
  } else if (roll < 0.6) {
    // A storage stall on every machine (shared storage hiccup), and a power loss while it lasts.
    const stallMs = 300 + rng.next() * 2000;
    // By machine: a replacement may join while the stall lasts.
    const before = new Map([...sim.hosts.values()].map((h) => [h, { ...h.disk.faults }]));
    for (const h of sim.hosts.values()) {
      h.disk.faults.slow = 1;
      h.disk.faults.slowMs = stallMs;
    }
    sim.sched.at(sim.sched.now + stallMs * 2, () => {
      if (sim.healed) return;
      for (const [h, was] of before) {
        h.disk.faults.slow = was.slow;
        h.disk.faults.slowMs = was.slowMs;
      }
    });
    if (rng.chance(0.6)) {
      sim.sched.at(sim.sched.now + rng.next() * stallMs * 2, () => {
        if (sim.healed) return;
        for (const id of ids) {
          if (!sim.up(id) || rng.chance(0.2)) continue;
          sim.crash(id);
          sim.sched.at(sim.sched.now + 200 + rng.next() * 1500, () => sim.restart(id));
        }
      });
    }
  } else if (roll < 0.62) {
    // Half the time the next fdatasync fails (the rule "never retry an fsync" is then tested whatever the
    // disk was doing); otherwise whichever I/O comes next, usually a write.
    if (up.length > 1) {
      const id = rng.pick(up);
      if (rng.chance(0.5)) sim.failNextSync(id);
      else sim.failNextIo(id);
    }
  } else if (roll < 0.68) {
    const leader = sim.leaderOf(g);
    const members = sim.groups.get(g)!;
    if (leader !== undefined) {
      const target = rng.pick(members.filter((m) => m !== leader));
      if (target !== undefined) admin(sim, leader, { op: "transferLeader", group: g, target });
    }
  } else if (roll < 0.74) {
    // Power loss: a majority (or every machine) goes down at one instant and comes back a little later.
    const victims = rng.chance(0.5) ? up : up.filter(() => rng.chance(0.7));
    for (const id of victims) {
      sim.crash(id);
      sim.sched.at(sim.sched.now + 200 + rng.next() * 2000, () => sim.restart(id));
    }
  } else if (roll < 0.77) {
    // SIGSTOP a leader for longer than its lease: it must not come back believing it still leads.
    const leader = sim.leaderOf(g);
    if (leader !== undefined) sim.pause(leader, SIM_LEASE.leaseMs + rng.next() * 4000);
  } else if (roll < 0.81) {
    // Recycling: every member may drop what lies below a point some reader saw committed.
    let seen = 0;
    const inc = recreator.incOf(g);
    for (const op of env.ops)
      if (op.group === g && op.inc === inc && op.output?.status === "ok" && "committedEnd" in op.output)
        seen = Math.max(seen, op.output.committedEnd);
    if (seen > 0 && !recreator.busy(g)) {
      const lsn = Math.floor(seen * rng.next());
      for (const m of sim.groups.get(g)!) admin(sim, m, { op: "advanceBase", group: g, lsn });
    }
  } else if (roll < 0.83) {
    if (up.length > 0) sim.stopGracefully(rng.pick(up), 100 + rng.next() * 1500);
  } else if (roll < 0.9) {
    // A link degrades, then fails: acks into a leader crawl for a while, then the leader is cut off for a few
    // seconds. Its lease must end by the renewals' send times, not by when their late acks arrived. The rest
    // of the cluster is left whole meanwhile, so it elects a new leader as soon as the old lease allows.
    const leader = sim.leaderOf(g);
    const whole = down.length === 0 && !ids.some((id) => sim.paused(id));
    if (leader !== undefined && whole && f.episodeCut.size === 0 && f.episodeLag.size === 0) {
      const lag = 1000 + rng.next() * 800;
      const cutAt = sim.sched.now + 500 + rng.next() * 2500;
      const cutMs = 4000 + rng.next() * 3000;
      quiet.until = cutAt + cutMs;
      f.blocked.clear();
      f.slowLinks.clear();
      sim.opts.trace?.(
        `${sim.sched.now.toFixed(3)} acks into ${leader} lag ${Math.round(lag)} ms, then it is cut off`,
      );
      const links = ids.filter((o) => o !== leader).flatMap((o) => [`${leader}>${o}`, `${o}>${leader}`]);
      for (const o of ids) if (o !== leader) f.episodeLag.set(`${o}>${leader}`, lag);
      sim.sched.at(cutAt, () => {
        sim.opts.trace?.(`${sim.sched.now.toFixed(3)} ${leader} cut off for ${Math.round(cutMs)} ms`);
        for (const l of links) f.episodeCut.add(l);
      });
      sim.sched.at(cutAt + cutMs, () => {
        f.episodeCut.clear();
        f.episodeLag.clear();
      });
    }
  }
}

/**
 * Seeds with a disk budget: six segments per shard WAL (copy-forward only moves groups out of segments four
 * behind the current one), small ones so the budget is reached early (an unbudgeted run writes 80-210 KiB
 * per shard over the whole run).
 */
const SIM_BUDGET_SEGMENT = 8 * 1024;
const SIM_DISK_BUDGET = 6 * SIM_BUDGET_SEGMENT;

/** A tiny PRNG for the run's shape, separate from the simulation's stream. */
class Prng0 {
  private a: number;
  constructor(seed: number) {
    this.a = (seed * 2654435761) >>> 0;
  }
  chance(p: number): boolean {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296 < p;
  }
}
