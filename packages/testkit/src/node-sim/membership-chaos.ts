/**
 * Membership changes during the whole-node simulator's chaos, driven as an operator drives them through the
 * node RPC (what @palf/client's Membership and replaceNode do): an added replica is first created on its node
 * (as a learner of its own initial config), then the leader is asked for the config change, which it commits
 * only once that replica caught up; a removed replica is deleted once its removal committed; a leader that
 * must go first hands leadership over. Every step retries through crashes, pauses and partitions until a
 * deadline, and may stop half-way (the next episode starts from whatever config the group has).
 *
 * Episodes: learners added, promoted and removed, members swapped, demoted and promoted back, removed and
 * added back (a fresh replica on a node that had one), replica-number changes, and a node replace: a machine
 * dies for good, a fresh machine joins, and every group it hosted gets a replica there and loses the dead
 * one. The dead machine comes back only in the healing phase, still holding its old replicas: it must learn
 * from a committed config that it is no longer a member and drop them (checked by `checkDropped`).
 *
 * Groups a recreation touches are left alone (and vice versa): a recreation names its members up front.
 * Random choices come from a stream of their own, so seeds without membership changes run as before.
 */
import { type ConfigChange, changeHolds, type MemberConfig, Prng, type Replica } from "@palf/core";
import { decodeResponse, encodeRpc, isAdminOp, type RpcRequest, type RpcResponse } from "@palf/transport";
import type { GroupRecreator } from "./group-recreate.ts";
import type { NodeSim } from "./node-sim.ts";

/** "random" (default): about half the seeds change membership, two in five of those replace a node. */
export type MembershipMode = "random" | "always" | "never";

/** How long one change keeps trying (virtual ms) before its episode gives up. */
const CHANGE_DEADLINE_MS = 20_000;
/** How long a leader waits for a change to commit before answering TIMEOUT. */
const CHANGE_WAIT_MS = 3000;

export class MembershipChaos {
  /** Config changes a leader answered as committed. */
  changes = 0;
  /** Episodes begun (a replace counts once). */
  episodes = 0;
  /** When the last removal of the replaced node committed (virtual ms; 0: none). */
  removedAt = 0;
  /** The node replaced in this run, its successor and the groups moved. */
  replaced: { dead: string; fresh: string; groups: number; moved: number } | undefined;
  private readonly prng: Prng;
  /** Groups an episode is changing now. */
  private readonly claimed = new Set<number>();
  /** Groups any episode changed: a recreation leaves them alone. */
  private readonly touched = new Set<number>();

  constructor(
    private readonly sim: NodeSim,
    seed: number,
    private readonly recreator: GroupRecreator,
  ) {
    this.prng = new Prng((Math.imul(seed, 0x85ebca6b) ^ 0x3c6ef372) >>> 0);
  }

  /** A membership episode changed (or is changing) the group. */
  busy(group: number): boolean {
    return this.touched.has(group);
  }

  /** Schedules this run's episodes between `from` and `to` (virtual ms). */
  plan(from: number, to: number, mode: MembershipMode = "random"): void {
    const p = this.prng;
    if (mode === "never" || to <= from) return;
    if (mode === "random" && !p.chance(0.5)) return;
    const at = () => from + p.next() * (to - from);
    if (p.chance(mode === "always" ? 0.6 : 0.4)) this.sim.sched.at(at(), () => void this.replace());
    const n = p.int(1, 4);
    for (let i = 0; i < n; i++) this.sim.sched.at(at(), () => void this.episode());
  }

  /**
   * After healing: the replaced node is up again and every group that moved off it committed a config
   * without it; it must not host (or lead) any of them any more. The caller leaves it `removedAt` plus a few
   * leases (it stands once its leader's lease runs out, then learns).
   */
  checkDropped(): void {
    const rep = this.replaced;
    if (rep === undefined) return;
    const host = this.sim.hosts.get(rep.dead);
    if (host?.life?.node === undefined) return;
    for (const g of this.sim.groups.keys()) {
      const lead = this.leader(g);
      const stale = this.sim.replicaOn(host, g);
      if (lead === undefined || stale === undefined || stale.inc !== lead.r.inc) continue;
      const cfg = lead.r.log.config;
      if (!committed(lead.r) || cfg.members.includes(rep.dead) || cfg.learners.includes(rep.dead)) continue;
      this.sim.fail(
        `membership: replaced ${rep.dead} still hosts group ${g} (as ${stale.role}, config ${stale.config.version.pid}.${stale.config.version.seq}) after healing, though the committed config ${cfg.version.pid}.${cfg.version.seq} names it nowhere`,
      );
    }
  }

  // ------------------------------------------------------------------ episodes

  private async episode(): Promise<void> {
    const p = this.prng;
    const free = [...this.sim.groups.keys()].filter((g) => this.mayClaim(g));
    if (this.sim.healed || free.length === 0) return;
    const g = p.pick(free);
    const cfg = this.newestConfig(g);
    if (cfg === undefined) return;
    this.claim(g);
    this.episodes++;
    const inGroup = new Set([...cfg.members, ...cfg.learners]);
    const spare = this.liveHosts().filter((h) => !inGroup.has(h));
    const m = p.pick(cfg.members);
    let steps: ConfigChange[];
    if (spare.length > 0 && p.chance(0.7)) {
      const s = p.pick(spare);
      steps = p.pick<ConfigChange[]>([
        [
          { type: "addLearner", id: s },
          { type: "promoteLearner", id: s },
          { type: "removeMember", id: m },
        ],
        [
          { type: "addMember", id: s },
          { type: "removeMember", id: m },
        ],
        [
          { type: "addLearner", id: s },
          { type: "removeLearner", id: s },
        ],
      ]);
    } else {
      const n = cfg.members.length;
      steps = p.pick<ConfigChange[]>([
        [
          { type: "demoteMember", id: m },
          { type: "promoteLearner", id: m },
        ],
        [
          { type: "setReplicaNum", replicaNum: n + 1 },
          { type: "setReplicaNum", replicaNum: n },
        ],
        [
          { type: "removeMember", id: m },
          { type: "addMember", id: m },
        ],
      ]);
    }
    this.log(`membership episode on group ${g}: ${steps.map(describe).join(", ")}`);
    try {
      for (const c of steps) if (!(await this.change(g, c))) break;
    } finally {
      this.claimed.delete(g);
    }
  }

  /** A machine dies for good; a fresh one takes over every replica it had, all groups at once. */
  private async replace(): Promise<void> {
    const sim = this.sim;
    if (sim.healed || this.replaced !== undefined) return;
    const dead = this.prng.pick(this.liveHosts());
    const fresh = `n${sim.hosts.size + 1}`;
    sim.crash(dead);
    sim.retired.add(dead);
    sim.addHost(fresh, true);
    sim.start(fresh);
    const groups = [...sim.groups.entries()]
      .filter(([g, hosts]) => hosts.includes(dead) && this.mayClaim(g))
      .map(([g]) => g);
    const rep = { dead, fresh, groups: groups.length, moved: 0 };
    this.replaced = rep;
    this.episodes++;
    this.log(`replace ${dead} by ${fresh}: groups ${groups.join(",")}`);
    for (const g of groups) this.claim(g);
    await Promise.all(
      groups.map(async (g) => {
        try {
          const learner = this.newestConfig(g)?.learners.includes(dead) === true;
          const add: ConfigChange = { type: learner ? "addLearner" : "addMember", id: fresh };
          const remove: ConfigChange = { type: learner ? "removeLearner" : "removeMember", id: dead };
          if ((await this.change(g, add)) && (await this.change(g, remove))) rep.moved++;
        } finally {
          this.claimed.delete(g);
        }
      }),
    );
    this.log(`replace ${dead} by ${fresh}: ${rep.moved} of ${rep.groups} groups moved`);
  }

  /**
   * Makes `change` hold on the group's leader, as Membership.change does; false if it did not by the deadline.
   * The leader is found by looking (the simulator sees every replica); everything else goes through the RPC.
   */
  private async change(g: number, change: ConfigChange): Promise<boolean> {
    const sim = this.sim;
    const deadline = sim.sched.now + CHANGE_DEADLINE_MS;
    while (sim.sched.now < deadline) {
      const lead = this.leader(g);
      if (lead === undefined) {
        await this.sleep(200);
        continue;
      }
      const cfg = lead.r.log.config;
      if (lead.r.pendingConfig === undefined && committed(lead.r) && changeHolds(cfg, change)) {
        sim.groups.set(g, [...cfg.members, ...cfg.learners]);
        // The operator cannot reach a dead node: it comes back (healing) with its replicas and must drop them.
        const removal = change.type === "removeMember" || change.type === "removeLearner";
        if (removal && sim.retired.has(change.id)) this.removedAt = Math.max(this.removedAt, sim.sched.now);
        else if (removal) await this.call(change.id, { op: "deleteGroup", group: g }, 1000);
        return true;
      }
      if ((change.type === "removeMember" || change.type === "demoteMember") && change.id === lead.id) {
        // The leader cannot remove itself: leadership moves first.
        const heirs = cfg.members.filter((m) => m !== lead.id && sim.up(m));
        if (heirs.length > 0)
          await this.call(lead.id, { op: "transferLeader", group: g, target: this.prng.pick(heirs) }, 1000);
        await this.sleep(300);
        continue;
      }
      if (change.type === "addMember" || change.type === "addLearner") {
        // The new replica first, as a learner of its own initial config (no vote until the leader counts it).
        const learners = [...cfg.learners.filter((l) => l !== change.id), change.id];
        const req: RpcRequest = {
          op: "createGroup",
          group: g,
          members: cfg.members,
          learners,
          inc: lead.r.inc,
        };
        const res = await this.call(change.id, req, 1000);
        if (res?.ok !== true) {
          await this.sleep(300);
          continue;
        }
      }
      const res = await this.call(
        lead.id,
        { op: "changeConfig", group: g, change, waitMs: CHANGE_WAIT_MS },
        CHANGE_WAIT_MS + 1000,
      );
      if (res?.ok === true && res.op === "changeConfig") {
        this.changes++;
        this.log(`group ${g}: ${describe(change)} committed`);
        continue; // the next look finds it holding and finishes (deletes a removed replica)
      }
      await this.sleep(100 + this.prng.next() * 300);
    }
    this.log(`group ${g}: ${describe(change)} gave up`);
    return false;
  }

  // ------------------------------------------------------------------ helpers

  private mayClaim(g: number): boolean {
    return !this.claimed.has(g) && !this.recreator.busy(g) && !this.recreator.recreated(g);
  }

  private claim(g: number): void {
    this.claimed.add(g);
    this.touched.add(g);
  }

  /** Machines that are not retired (up or down). */
  private liveHosts(): string[] {
    return [...this.sim.hosts.keys()].filter((h) => !this.sim.retired.has(h));
  }

  private leader(g: number): { id: string; r: Replica } | undefined {
    const id = this.sim.leaderOf(g);
    const r = id === undefined ? undefined : this.sim.replicaOn(this.sim.hosts.get(id), g);
    return id === undefined || r === undefined ? undefined : { id, r };
  }

  /** The newest config any replica of the group holds (for planning; the leader decides). */
  private newestConfig(g: number): MemberConfig | undefined {
    let best: MemberConfig | undefined;
    for (const host of this.sim.hosts.values()) {
      const c = this.sim.replicaOn(host, g)?.log.config;
      const v = c?.version;
      if (
        c &&
        v &&
        (!best || v.pid > best.version.pid || (v.pid === best.version.pid && v.seq > best.version.seq))
      )
        best = c;
    }
    return best;
  }

  private async call(to: string, req: RpcRequest, timeoutMs: number): Promise<RpcResponse | undefined> {
    this.log(`operator -> ${to} ${JSON.stringify(req)}`);
    try {
      const a = await this.sim.net.rpc(
        "operator",
        to,
        encodeRpc(req),
        timeoutMs,
        undefined,
        isAdminOp(req.op),
      );
      const res = decodeResponse(a.reply);
      if (!res.ok) this.log(`operator <- ${to} ${res.error.code} ${res.error.message ?? ""}`);
      return res;
    } catch (err) {
      this.log(`operator <- ${to} ${(err as Error).message}`);
      return undefined;
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.sim.sched.at(this.sim.sched.now + ms, resolve));
  }

  private log(line: string): void {
    this.sim.opts.trace?.(`${this.sim.sched.now.toFixed(3)} ${line}`);
  }
}

/** The replica's latest config entry is committed (or lies at or below its base). */
function committed(r: Replica): boolean {
  return r.committedEnd > r.log.configLsn || r.log.configLsn <= r.log.base.lsn;
}

function describe(c: ConfigChange): string {
  return c.type === "setReplicaNum" ? `setReplicaNum ${c.replicaNum}` : `${c.type} ${c.id}`;
}
