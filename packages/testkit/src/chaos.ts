import type { ConfigChange, GroupId, SessionTag } from "@palf/core";
import { drawCommitInfoDelayMs } from "./commit-info-delay.ts";
import { type SimOptions, Simulation } from "./simulation.ts";

/** One seeded run: random appends, faults and admin calls, then a healing phase that checks liveness. */
export interface ChaosOptions extends SimOptions {
  /** Number of workload and fault actions in the chaos phase. */
  readonly steps: number;
  /** Mean virtual milliseconds between actions. */
  readonly stepMs?: number;
  /** Sees the simulation after the run (debugging a seed). */
  readonly inspect?: (sim: Simulation) => void;
}

export interface SeedReport {
  readonly seed: number;
  /** The run's commit-info delay (pinned by `opts.replica`, else drawn from the seed). */
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
}

/**
 * Runs one seed to completion and reports what the checkers found. Unless `opts.replica` pins it, the
 * commit-info delay is drawn from the seed (drawCommitInfoDelayMs).
 */
export function runChaos(opts: ChaosOptions): SeedReport {
  const commitInfoDelayMs = opts.replica?.commitInfoDelayMs ?? drawCommitInfoDelayMs(opts.seed);
  const sim = new Simulation({ ...opts, replica: { ...opts.replica, commitInfoDelayMs } });
  const rng = sim.rng;
  const leaseMs = 2000;
  const nodeIds = [...sim.nodes.keys()];
  const groups = sim.groupIds;
  let t = leaseMs * 2;
  const stepMs = opts.stepMs ?? 40;
  // Client sessions: appends tagged (session, seq) that a client may retry, to the same or the next leader.
  const sessions = new Map<GroupId, { id: number; seq: number }[]>();
  const sent = new Map<GroupId, { session: SessionTag; bytes: Uint8Array; lsn: number }[]>();
  for (const g of groups) {
    sessions.set(
      g,
      [1, 2, 3].map((k) => ({ id: g * 1000 + k, seq: 0 })),
    );
    sent.set(g, []);
  }
  const clientAppend = (g: GroupId, node: string) => {
    const past = sent.get(g)!;
    if (past.length > 0 && rng.chance(0.15)) {
      // A retry: the client did not hear back (or is not sure), so it sends the same bytes again, marked as
      // a retry; a leader whose log was recycled past it answers INDETERMINATE rather than append it twice.
      const p = rng.pick(past);
      if (sim.append(g, node, p.bytes.length, 0, p.session, p.bytes, true))
        p.lsn = Math.min(p.lsn, sim.lastAccepted!.lsn);
      return;
    }
    const size = rng.int(8, 300);
    const refCsn = rng.chance(0.3) ? Math.floor(sim.now * 1000) : 0;
    if (!rng.chance(0.5)) {
      sim.append(g, node, size, refCsn);
      return;
    }
    const s = rng.pick(sessions.get(g)!);
    const session = { id: s.id, seq: s.seq++ };
    const bytes = sim.payload(size);
    if (!sim.append(g, node, size, refCsn, session, bytes)) {
      // Refused (not the leader, say): the client will send it again, so it may be retried too.
      past.push({ session, bytes, lsn: Number.POSITIVE_INFINITY });
    } else past.push({ session, bytes, lsn: sim.lastAccepted!.lsn });
    if (past.length > 64) past.shift();
  };

  const action = () => {
    const g = rng.pick(groups);
    const roll = rng.next();
    if (roll < 0.6) {
      const leader = sim.leaderOf(g);
      const n = rng.int(1, 6);
      for (let i = 0; i < n; i++) clientAppend(g, leader?.self ?? rng.pick(nodeIds));
    } else if (roll < 0.64) {
      const up = nodeIds.filter((id) => sim.nodes.get(id)!.up);
      if (up.length > 1) sim.crash(rng.pick(up));
    } else if (roll < 0.7) {
      const down = nodeIds.filter((id) => !sim.nodes.get(id)!.up);
      if (down.length > 0) sim.restart(rng.pick(down));
    } else if (roll < 0.715) {
      // Cut a leader off while clients still write to it: its unreplicated appends must come back failed.
      const leader = sim.leaderOf(g);
      if (leader) {
        sim.heal();
        sim.partition([leader.self]);
        for (let i = 0; i < 3; i++) sim.append(g, leader.self, rng.int(8, 64));
        sim.at(sim.now + leaseMs * (1 + rng.next() * 2), () => sim.heal());
      }
    } else if (roll < 0.73) {
      sim.heal();
      const side = nodeIds.filter(() => rng.chance(0.5));
      sim.partition(side);
    } else if (roll < 0.75) {
      const a = rng.pick(nodeIds);
      const b = rng.pick(nodeIds);
      if (a !== b) sim.faults.blocked.add(`${a}>${b}`);
    } else if (roll < 0.8) {
      sim.heal();
    } else if (roll < 0.83) {
      sim.faults.drop = rng.pick([0, 0, 0.02, 0.1, 0.3]);
      sim.faults.duplicate = rng.pick([0, 0.02, 0.1]);
      sim.faults.corrupt = rng.pick([0, 0, 0.01, 0.05]);
      // Stale messages delivered late (a reconnect), and a node whose timers run late (a busy or paused process).
      sim.faults.late = rng.pick([0, 0, 0.01, 0.05]);
      const slow = rng.pick(nodeIds);
      sim.timerLagMs.set(slow, rng.pick([0, 0, 50, 300, 1000]));
      sim.at(sim.now + leaseMs * (0.5 + rng.next()), () => sim.timerLagMs.delete(slow));
    } else if (roll < 0.88) {
      const change = randomChange(sim, g, nodeIds, rng.next());
      if (change) sim.changeConfig(g, change);
    } else if (roll < 0.91) {
      const leader = sim.leaderOf(g);
      if (leader) {
        const others = leader.log.config.members.filter((m) => m !== leader.self);
        if (others.length > 0) {
          const tl = sim.nodes.get(leader.self)!.local(sim.now);
          leader.transferLeader(rng.pick(others), tl);
          leader.endTurn(tl);
        }
      }
    } else if (roll < 0.94) {
      const r = sim.replica(rng.pick(nodeIds), g);
      r?.setPriority(rng.int(0, 4));
    } else {
      const id = rng.pick(nodeIds);
      const r = sim.replica(id, g);
      if (r && r.committedEnd > r.log.base.lsn) {
        const at = r.log.base.lsn + Math.floor(rng.next() * (r.committedEnd - r.log.base.lsn));
        r.advanceBase(rng.chance(0.3) ? r.committedEnd : at, sim.nodes.get(id)!.local(sim.now));
      }
    }
  };

  for (let i = 0; i < opts.steps; i++) {
    t += rng.next() * stepMs * 2;
    sim.at(t, action);
  }
  sim.run(t);

  // Heal everything and give the cluster time to elect leaders and resolve every append.
  sim.heal();
  sim.faults.drop = 0;
  sim.faults.duplicate = 0;
  sim.faults.corrupt = 0;
  sim.faults.late = 0;
  sim.timerLagMs.clear();
  for (const id of nodeIds) sim.restart(id);
  const healed = sim.now;
  const settle = healed + leaseMs * 6;
  for (const g of groups) {
    for (let k = 1; k <= 3; k++)
      sim.at(healed + leaseMs * 2 * k, () => sim.append(g, sim.leaderOf(g)?.self ?? nodeIds[0]!, 16));
  }
  sim.run(settle);
  for (const g of groups) {
    if (!sim.leaderOf(g))
      sim.checker.fail(`liveness: group ${g} has no leader ${leaseMs * 6} ms after healing`);
  }
  sim.run(settle + leaseMs * 2);
  sim.checkLogs();
  sim.checker.finish(true);
  opts.inspect?.(sim);
  const c = sim.checker.counts();
  return {
    seed: opts.seed,
    commitInfoDelayMs,
    violations: sim.checker.violations,
    appends: c.appends,
    committed: c.committed,
    failed: c.failed,
    indeterminate: c.indeterminate,
    elections: sim.checker.elections,
    rejected: sim.checker.rejected,
    events: sim.events,
    virtualMs: Math.round(sim.now),
  };
}

function randomChange(
  sim: Simulation,
  g: GroupId,
  nodeIds: readonly string[],
  roll: number,
): ConfigChange | undefined {
  const leader = sim.leaderOf(g);
  if (!leader) return undefined;
  const cfg = leader.log.config;
  const outside = nodeIds.filter((id) => !cfg.members.includes(id) && !cfg.learners.includes(id));
  const followers = cfg.members.filter((m) => m !== leader.self);
  if (roll < 0.08) {
    // Replica-number changes: below the member count (or breaking quorum intersection) must be refused.
    const replicaNum = cfg.members.length + [-2, -1, 0, 1][Math.floor((roll / 0.08) * 4)]!;
    return { type: "setReplicaNum", replicaNum };
  }
  if (roll < 0.25 && outside.length > 0) return { type: "addLearner", id: outside[0]! };
  if (roll < 0.45 && cfg.learners.length > 0) return { type: "promoteLearner", id: cfg.learners[0]! };
  if (roll < 0.6 && cfg.learners.length > 0) return { type: "removeLearner", id: cfg.learners[0]! };
  if (roll < 0.75 && outside.length > 0) return { type: "addMember", id: outside[0]! };
  if (roll < 0.9 && cfg.members.length > 3 && followers.length > 0)
    return { type: "removeMember", id: followers[0]! };
  if (cfg.members.length > 3 && followers.length > 0) return { type: "demoteMember", id: followers[0]! };
  return undefined;
}
