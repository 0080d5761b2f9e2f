/**
 * Group deletion and recreation under faults, for the whole-node simulator. An action picks a group, lets its
 * clients drain (no new operations; those under way finish, or give up as indeterminate once the group
 * closes), deletes the group on its members one node at a time, creates it again with the next incarnation,
 * and starts fresh clients on it. The schedule is adversarial: the old leader's node usually goes last, its
 * links to the other members may be slow (its pushes are still in flight when new replicas start), and in
 * half the runs each member is recreated in turn while the old leader keeps leading for a few more seconds,
 * so the new incarnation elects a leader while the old one still pushes and asks for votes.
 *
 * Every incarnation is a history of its own (incarnations.ts keys it "group#inc"), so the history checker
 * shows that nothing of the old incarnation appears in the new one (bytes nobody appended to it, two entries
 * at one LSN, a committed append not read back). Client requests carry no incarnation, so a request delayed
 * in the network may still land in a later incarnation: each append is also entered, as never answered, in
 * the history of every other incarnation that started serving one of its attempts (seen by the node's serve
 * hook), which is exactly what the real system allows. Reads belong to the incarnation that served them.
 *
 * A member that is down, paused or stopping at its step catches up later: a reconcile tick (and each step)
 * deletes whatever older incarnation it hosts (also one a crash brought back because its deletion was not
 * durable yet) and creates the new one. Random choices come from a stream of their own, so seeds without a
 * recreation run exactly as they did before recreations existed.
 */
import { Prng } from "@palf/core";
import type { RpcRequest } from "@palf/transport";
import { type AppendOutcome, HistoryRecorder, type ReadOutcome } from "../history/index.ts";
import { INC_STRIDE, incKey } from "./incarnations.ts";
import type { NodeSim } from "./node-sim.ts";
import type { ClientOp, ClientPhase } from "./sim-clients.ts";
import type { Proc } from "./sim-scheduler.ts";

/** "random" (default): about two seeds in five recreate a group (once or twice); "always": every seed does. */
export type RecreateMode = "random" | "always" | "never";

/** Where a member is in its group's latest recreation. */
type Stage = "old" | "deleted" | "new";

interface Recreation {
  readonly group: number;
  /** The new incarnation. */
  readonly inc: number;
  readonly stages: Map<string, Stage>;
  /**
   * Members whose deletion waits (until the time given) for the next append their node starts to serve, and
   * then runs right behind it, before the loop turn that append asked for: a delete request that came in one
   * batch with a client's append.
   */
  readonly behindAppend: Map<string, number>;
}

/** Virtual ms between reconcile ticks. */
const TICK_MS = 150;
/** How long a recreation waits for its group to have a leader before it goes ahead anyway. */
const WAIT_FOR_LEADER_MS = 4000;

export class GroupRecreator {
  /** Recreations begun. */
  count = 0;
  private readonly prng: Prng;
  /** Per recreated group: the incarnation its clients work on and their phase. */
  private readonly clients = new Map<number, { inc: number; phase: ClientPhase }>();
  private readonly latest = new Map<number, Recreation>();
  private readonly busyGroups = new Set<number>();
  /** "group/session/seq" -> incarnations whose replica started serving an attempt of that append. */
  private readonly served = new Map<string, Set<number>>();
  private ticking = false;
  /** Process lives with an admin call queued (held while paused): one at a time. */
  private readonly queued = new Set<Proc>();

  constructor(
    private readonly sim: NodeSim,
    seed: number,
    /** Starts the clients of incarnation `inc` of `group` at virtual time `at`. */
    private readonly startClients: (group: number, inc: number, at: number) => void,
  ) {
    this.prng = new Prng((Math.imul(seed, 0x9e3779b1) ^ 0x2545f491) >>> 0);
  }

  /** ClientEnv.phase: clients of older incarnations are closed for good. */
  phase(group: number, inc: number): ClientPhase {
    const c = this.clients.get(group);
    if (c === undefined) return "open";
    return inc < c.inc ? "closed" : c.phase;
  }

  /** The incarnation the group's clients work on. */
  incOf(group: number): number {
    return this.clients.get(group)?.inc ?? 0;
  }

  /** A recreation of the group is under way (other admin actions leave it alone). */
  busy(group: number): boolean {
    return this.busyGroups.has(group);
  }

  /** The group was recreated in this run (its members were named by the recreation). */
  recreated(group: number): boolean {
    return this.latest.has(group);
  }

  /** Groups something else changes (membership): no recreation begins on them. */
  leaveAlone: (group: number) => boolean = () => false;

  /** Schedules this run's recreations between `from` and `to` (virtual ms). */
  plan(from: number, to: number, mode: RecreateMode = "random"): void {
    const p = this.prng;
    if (mode === "never" || to <= from || this.sim.groups.size === 0) return;
    if ([...this.sim.groups.keys()].some((g) => g >= INC_STRIDE)) return;
    const n = mode === "always" || p.chance(0.4) ? (p.chance(0.3) ? 2 : 1) : 0;
    const groups = [...this.sim.groups.keys()];
    for (let i = 0; i < n; i++) {
      const at = from + p.next() * (to - from);
      const g = p.pick(groups);
      this.sim.sched.at(at, () => this.begin(g));
    }
  }

  /**
   * Drain, close, delete member by member, create again with the next incarnation, reopen. Waits a few
   * seconds for the group to have a leader first (the mix is likeliest while an old leader is active).
   */
  begin(group: number, waited = 0): void {
    if (this.busyGroups.has(group) || this.sim.healed || this.leaveAlone(group)) return;
    const sim = this.sim;
    const p = this.prng;
    const now = sim.sched.now;
    const members = sim.groups.get(group)!;
    const active = sim.leaderOf(group);
    const leader = active ?? (waited < WAIT_FOR_LEADER_MS ? undefined : longestLog(sim, group));
    if (leader === undefined && waited < WAIT_FOR_LEADER_MS) {
      sim.sched.at(now + 100, () => this.begin(group, waited + 100));
      return;
    }
    const old = this.incOf(group);
    const rec: Recreation = {
      group,
      inc: old + 1,
      stages: new Map(members.map((m) => [m, "old"])),
      behindAppend: new Map(),
    };
    this.count++;
    this.busyGroups.add(group);
    this.latest.set(group, rec);
    this.watchServes();
    const clients = { inc: old, phase: "draining" as ClientPhase };
    this.clients.set(group, clients);

    const order = shuffle(
      members.filter((m) => m !== leader),
      p,
    );
    // Where the old leader goes: usually last (it keeps leading, pushing and asking for votes while the others
    // are recreated); sometimes first and at once, right behind an append it takes (a delete request that
    // came in one batch with the last client requests); else anywhere.
    const leaderAt =
      leader === undefined ? "none" : p.chance(0.6) ? "last" : active && p.chance(0.6) ? "first" : "any";
    if (leader !== undefined) {
      if (leaderAt === "last") order.push(leader);
      else if (leaderAt === "first") order.unshift(leader);
      else order.splice(p.int(0, order.length + 1), 0, leader);
      if (p.chance(0.5)) {
        // The old leader's links crawl: what it sends now still arrives after the new replicas started.
        const lag = 300 + p.next() * 2000;
        const f = sim.net.faults;
        for (const m of members) if (m !== leader) f.slowLinks.set(`${leader}>${m}`, lag);
        sim.sched.at(now + 6000, () => {
          for (const m of members)
            if (f.slowLinks.get(`${leader}>${m}`) === lag) f.slowLinks.delete(`${leader}>${m}`);
        });
      }
    }
    const interleaved = p.chance(0.6);
    // An abrupt first deletion comes while clients still issue; they start draining a little later.
    if (leaderAt === "first") {
      clients.phase = "open";
      sim.sched.at(now + 650, () => {
        clients.phase = "draining";
      });
    }
    const closeAt = now + (leaderAt === "first" ? 700 : 300) + p.next() * 1200;
    this.log(
      `recreate group ${group}: incarnation ${rec.inc}, order ${order.join(",")} (old leader ${leader ?? "none"}${active ? "" : ", idle"}, goes ${leaderAt}), ${interleaved ? "member by member" : "all deletes first"}`,
    );
    sim.sched.at(closeAt, () => {
      clients.phase = "closed";
    });
    let t = closeAt;
    /** When the i-th member of the order is deleted; the abrupt first one goes while clients still drain. */
    const deleteAt = (i: number, gap: number): number => {
      if (i === 0 && leaderAt === "first") return now + p.next() * 50;
      t += gap;
      return t;
    };
    const creates: number[] = [];
    if (interleaved) {
      order.forEach((m, i) => {
        const late = i === order.length - 1 && p.chance(0.8) ? 3000 + p.next() * 3000 : 0;
        const d = deleteAt(i, 50 + p.next() * 500 + late);
        this.stageAt(rec, m, "deleted", d, i === 0 && leaderAt === "first");
        const c = d + p.next() * 600;
        this.stageAt(rec, m, "new", c);
        creates.push(c);
      });
    } else {
      for (const [i, m] of order.entries())
        this.stageAt(rec, m, "deleted", deleteAt(i, 50 + p.next() * 700), i === 0 && leaderAt === "first");
      for (const m of order) {
        t += p.next() * 600;
        this.stageAt(rec, m, "new", t);
        creates.push(t);
      }
    }
    creates.sort((a, b) => a - b);
    // New clients once a majority hosts the new incarnation (a late member may still host the old one).
    const openAt = creates[Math.floor(members.length / 2)]! + p.next() * 300;
    sim.sched.at(openAt, () => {
      this.clients.set(group, { inc: rec.inc, phase: "open" });
      this.startClients(group, rec.inc, openAt);
    });
    sim.sched.at(creates.at(-1)! + 1000, () => this.busyGroups.delete(group));
    if (!this.ticking) {
      this.ticking = true;
      sim.sched.at(now + TICK_MS, () => this.tick());
    }
  }

  /**
   * The run's client history: every incarnation of a group as a group of its own, plus each append that an
   * incarnation other than its own started serving entered there too, as never answered.
   */
  history(ops: readonly ClientOp[]): HistoryRecorder {
    const recorder = new HistoryRecorder();
    const ghosts: { op: ClientOp; inc: number }[] = [];
    for (const op of ops) {
      const key = incKey(op.group, op.inc);
      if (op.input.type === "append") {
        const h = recorder.begin(op.client, key, op.input, op.call);
        if (op.ret !== undefined) recorder.end(h, op.output as AppendOutcome, op.ret);
        const s = op.input.session;
        for (const inc of this.served.get(`${op.group}/${s.id}/${s.seq}`) ?? [])
          if (inc !== op.inc) ghosts.push({ op, inc });
      } else {
        const h = recorder.begin(op.client, key, op.input, op.call);
        if (op.ret !== undefined) recorder.end(h, op.output as ReadOutcome, op.ret);
      }
    }
    for (const { op, inc } of ghosts) recorder.begin(op.client, incKey(op.group, inc), op.input, op.call);
    return recorder;
  }

  private stageAt(rec: Recreation, member: string, stage: Stage, at: number, behindAppend = false): void {
    const behind = stage === "deleted" && (behindAppend || this.prng.chance(0.5));
    this.sim.sched.at(at, () => {
      rec.stages.set(member, stage);
      if (behind) rec.behindAppend.set(member, at + 600);
      this.reconcile(rec, member);
    });
  }

  private tick(): void {
    for (const rec of this.latest.values()) for (const m of rec.stages.keys()) this.reconcile(rec, m);
    this.sim.sched.at(this.sim.sched.now + TICK_MS, () => this.tick());
  }

  /**
   * Brings one member to its stage, if its process is up and serving. The admin calls run as an event of the
   * process (as an RPC's handler would): held while it is paused, then run in order with what else arrived
   * meanwhile (a client's append, a flush completion), at the same instant.
   */
  private reconcile(rec: Recreation, member: string): void {
    const life = this.sim.hosts.get(member)?.life;
    if (life?.node === undefined || this.queued.has(life.proc) || this.action(rec, member) === undefined)
      return;
    if ((rec.behindAppend.get(member) ?? 0) > this.sim.sched.now) return;
    this.queued.add(life.proc);
    this.sim.sched.at(
      this.sim.sched.now,
      () => {
        this.queued.delete(life.proc);
        const node = life.node;
        const act = this.action(rec, member);
        if (node === undefined || act === undefined) return;
        const r = node.replica(rec.group);
        if (r !== undefined) {
          this.log(`${member} deletes group ${rec.group} (incarnation ${r.inc})`);
          this.admin(member, { op: "deleteGroup", group: rec.group });
        }
        if (act === "create") {
          this.log(`${member} creates group ${rec.group} incarnation ${rec.inc}`);
          const members = [...this.sim.groups.get(rec.group)!];
          this.admin(member, { op: "createGroup", group: rec.group, members, inc: rec.inc });
        }
      },
      life.proc,
    );
  }

  /** What the member must do now to reach its stage: delete what it hosts (then create), or nothing. */
  private action(rec: Recreation, member: string): "delete" | "create" | undefined {
    const stage = rec.stages.get(member);
    const life = this.sim.hosts.get(member)?.life;
    const node = life?.node;
    if (stage === undefined || stage === "old" || node === undefined || life?.fatal || life?.stopping)
      return undefined;
    const r = node.replica(rec.group);
    if (stage === "deleted") return r !== undefined ? "delete" : undefined;
    return r === undefined || r.inc !== rec.inc ? "create" : undefined;
  }

  /** The admin call through the node's request handler (what an RPC runs), at once. */
  private admin(member: string, req: RpcRequest): void {
    const node = this.sim.hosts.get(member)?.life?.node;
    node?.handle(req).then(
      (res) => {
        if (!res.ok)
          this.sim.fail(`recreate: ${member} refused ${req.op}: ${res.error.code} ${res.error.message}`);
      },
      (err: Error) => this.sim.fail(`recreate: ${member} threw on ${req.op}: ${err.stack ?? err.message}`),
    );
  }

  private watchServes(): void {
    if (this.sim.onServed !== undefined) return;
    this.sim.onServed = (node, req, inc) => {
      if (req.op !== "append") return;
      const rec = this.latest.get(req.group);
      if (rec?.behindAppend.delete(node) && this.action(rec, node) !== undefined) {
        this.log(`${node} deletes group ${rec.group} right behind an append`);
        this.reconcile(rec, node);
      }
      if (inc === undefined) return;
      for (const item of req.items) {
        if (item.session === undefined) continue;
        const key = `${req.group}/${item.session.id}/${item.session.seq}`;
        let incs = this.served.get(key);
        if (incs === undefined) {
          incs = new Set();
          this.served.set(key, incs);
        }
        incs.add(inc);
      }
    };
  }

  private log(line: string): void {
    this.sim.opts.trace?.(`${this.sim.sched.now.toFixed(3)} ${line}`);
  }
}

/** The member whose replica of the group has the longest log (the likeliest recent leader), if any is up. */
function longestLog(sim: NodeSim, group: number): string | undefined {
  let best: string | undefined;
  let end = -1;
  for (const m of sim.groups.get(group)!) {
    const r = sim.replicaOn(sim.hosts.get(m), group);
    if (r !== undefined && r.log.end > end) {
      best = m;
      end = r.log.end;
    }
  }
  return best;
}

function shuffle<T>(items: T[], p: Prng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = p.int(0, i + 1);
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}
