import {
  type ConfigChange,
  type GroupId,
  initialConfig,
  type LeaseOptions,
  type Message,
  Prng,
  Replica,
  type ReplicaId,
  type ReplicaOptions,
  type SessionTag,
  type UnsafeSwitches,
} from "@palf/core";
import { Checker } from "./checker.ts";
import { EventQueue } from "./event-queue.ts";
import { SimNode } from "./sim-node.ts";

/** Knobs of one simulated run; everything random derives from `seed`. */
export interface SimOptions {
  readonly seed: number;
  readonly groups: number;
  readonly replicas: 3 | 5;
  /** Nodes in the cluster (spares take part in membership changes). */
  readonly nodes?: number;
  readonly lease?: Partial<LeaseOptions>;
  /** Max clock rate error actually simulated (must stay within the replicas' configured maxDrift). */
  readonly drift?: number;
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
  readonly maxSyncMs?: number;
  /** A run that needs more events than this is a storm: it fails loudly instead of hanging. */
  readonly maxEvents?: number;
  /** Test-only: safety rules every replica runs without (guard tests; see core's UnsafeSwitches). */
  readonly unsafe?: Partial<UnsafeSwitches>;
  /**
   * Overrides of the simulator's replica settings (2 KB group entries, 8 KB pushes, 200 ms retransmits,
   * commit info at once).
   */
  readonly replica?: Pick<
    ReplicaOptions,
    "maxGroupEntryBytes" | "maxPushBytes" | "retransmitMs" | "commitInfoDelayMs"
  >;
  /** Longest delay of a message the network delivers late (NetworkFaults.late); default two leases. */
  readonly lateMaxMs?: number;
  /** Called with every replica event (debugging a seed). */
  readonly trace?: (now: number, node: ReplicaId, event: import("@palf/core").ReplicaEvent) => void;
}

type SimEvent =
  | { kind: "deliver"; to: ReplicaId; msg: Message }
  | { kind: "wake"; node: ReplicaId; group: GroupId; epoch: number }
  | { kind: "sync"; node: ReplicaId; epoch: number }
  | { kind: "call"; fn: () => void };

/** Network fault settings; the chaos driver changes them during a run. */
export interface NetworkFaults {
  drop: number;
  duplicate: number;
  /** Corrupt a message in a way the receiver must detect (bad checksum, malformed field). */
  corrupt: number;
  /** Directed links that deliver nothing: "a>b". */
  blocked: Set<string>;
  /** Deliver a message late (up to SimOptions.lateMaxMs), as after a reconnect: stale messages must be harmless. */
  late: number;
  /** Scripted tests: sees every message between two nodes; "drop" drops it, a number delays it that much more. */
  intercept: ((msg: Message) => "drop" | number | undefined) | undefined;
}

/**
 * A deterministic cluster: simulated nodes with drifting clocks, a lossy reordering network and disks that
 * lose unsynced writes, hosting PALF groups of real `Replica`s. Same seed, same run.
 */
export class Simulation {
  readonly rng: Prng;
  readonly nodes = new Map<ReplicaId, SimNode>();
  readonly checker: Checker;
  readonly faults: NetworkFaults = {
    drop: 0,
    duplicate: 0,
    corrupt: 0,
    blocked: new Set(),
    late: 0,
    intercept: undefined,
  };
  readonly groupIds: GroupId[] = [];
  /** Per node: how late its timers fire (a busy or paused process); 0 when absent. */
  readonly timerLagMs = new Map<ReplicaId, number>();
  /** Per node: extra latency of every fsync (a slow or failing disk); 0 when absent. */
  readonly syncLagMs = new Map<ReplicaId, number>();
  now = 0;
  events = 0;
  /** Where the last accepted `append` went (a client keeps it to decide what to retry). */
  lastAccepted: { readonly lsn: number; readonly csn: number } | undefined;
  private sameTimeEvents = 0;
  private readonly queue = new EventQueue<SimEvent>();
  private nextAppendId = 1;
  private readonly lease: Partial<LeaseOptions>;

  constructor(readonly opts: SimOptions) {
    this.rng = new Prng(opts.seed);
    this.lease = {
      leaseMs: 2000,
      renewMs: 250,
      maxDrift: 0.01,
      electionJitterMs: 300,
      voteWindowMs: 50,
      ...opts.lease,
    };
    this.checker = new Checker((node, group) => this.nodes.get(node)?.replicas.get(group));
    const drift = opts.drift ?? 0.005;
    const n = opts.nodes ?? opts.replicas + 1;
    for (let i = 0; i < n; i++) {
      const id = `n${i + 1}`;
      const node = new SimNode(id, 1 + (this.rng.next() * 2 - 1) * drift, this.rng.next() * 10_000);
      node.sink = this.sinkFor(node);
      this.nodes.set(id, node);
    }
    const ids = [...this.nodes.keys()];
    for (let g = 1; g <= opts.groups; g++) {
      const start = this.rng.int(0, ids.length);
      const members = Array.from({ length: opts.replicas }, (_, k) => ids[(start + k) % ids.length]!);
      const config = initialConfig(members);
      this.groupIds.push(g);
      for (const node of this.nodes.values()) node.configs.set(g, config);
      for (const m of members) this.createReplica(this.nodes.get(m)!, g);
    }
  }

  private sinkFor(node: SimNode) {
    return {
      persist: (group: GroupId, seq: number, record: import("@palf/core").PersistRecord) => {
        node.pending.push({ group, seq, record });
        this.scheduleSync(node);
      },
      send: (msg: Message) => this.send(node, msg),
      result: (r: import("@palf/core").GroupEntryResult) => this.checker.onResult(node.id, r),
      event: (e: import("@palf/core").ReplicaEvent) => {
        this.opts.trace?.(this.now, node.id, e);
        this.checker.onEvent(node.id, e);
      },
      wake: (group: GroupId, at: number) => {
        // A busy or paused node runs its timers late (timerLagMs): a leader's lease may run out before its tick.
        const t = Math.max(this.now, node.global(at)) + (this.timerLagMs.get(node.id) ?? 0);
        node.wakeAt.set(group, t);
        node.wakeLocal.set(group, at);
        this.queue.push(t, { kind: "wake", node: node.id, group, epoch: node.epoch });
      },
    };
  }

  /** Creates (or recovers from its disk image) the replica of `group` on `node`. */
  createReplica(node: SimNode, group: GroupId): Replica {
    const image = node.images.get(group)?.snapshot();
    node.image(group);
    const r = new Replica(
      {
        group,
        self: node.id,
        initialConfig: node.configs.get(group)!,
        seed: this.rng.int(1, 2 ** 31),
        lease: this.lease,
        retransmitMs: 200,
        prepareTimeoutMs: 500,
        maxGroupEntryBytes: 2048,
        maxPushBytes: 8192,
        ...this.opts.replica,
        ...(this.opts.unsafe ? { unsafe: this.opts.unsafe } : {}),
      },
      node.sink,
      node.local(this.now),
      image,
    );
    node.replicas.set(group, r);
    return r;
  }

  replica(node: ReplicaId, group: GroupId): Replica | undefined {
    const n = this.nodes.get(node);
    return n?.up ? n.replicas.get(group) : undefined;
  }

  /** The replica that leads `group` right now (role leader with a valid lease), if any. */
  leaderOf(group: GroupId): Replica | undefined {
    for (const node of this.nodes.values()) {
      if (!node.up) continue;
      const r = node.replicas.get(group);
      if (r && r.role === "leader" && r.leaseValid(node.local(this.now))) return r;
    }
    return undefined;
  }

  // ------------------------------------------------------------------ network and disk

  private send(from: SimNode, msg: Message): void {
    if (msg.to === from.id) {
      this.queue.push(this.now + 0.001, { kind: "deliver", to: msg.to, msg });
      return;
    }
    if (!from.up || this.faults.blocked.has(`${from.id}>${msg.to}`)) return;
    const scripted = this.faults.intercept?.(msg);
    if (scripted === "drop") return;
    if (this.rng.chance(this.faults.drop)) return;
    const copies = this.rng.chance(this.faults.duplicate) ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      let delay =
        (this.opts.minDelayMs ?? 0.2) +
        this.rng.next() * ((this.opts.maxDelayMs ?? 5) - (this.opts.minDelayMs ?? 0.2));
      if (this.faults.late > 0 && this.rng.chance(this.faults.late))
        delay += this.rng.next() * (this.opts.lateMaxMs ?? 2 * (this.lease.leaseMs ?? 2000));
      if (typeof scripted === "number") delay += scripted;
      const m = this.rng.chance(this.faults.corrupt) ? corrupt(msg, this.rng) : msg;
      this.queue.push(this.now + delay, { kind: "deliver", to: msg.to, msg: m });
    }
  }

  private scheduleSync(node: SimNode): void {
    if (node.syncing || node.pending.length === 0) return;
    node.syncing = node.pending;
    node.pending = [];
    const latency = 0.05 + this.rng.next() * (this.opts.maxSyncMs ?? 2) + (this.syncLagMs.get(node.id) ?? 0);
    this.queue.push(this.now + latency, { kind: "sync", node: node.id, epoch: node.epoch });
  }

  private onSync(node: SimNode): void {
    const writes = node.syncing ?? [];
    node.syncing = undefined;
    const seqs = node.applySynced(writes);
    const t = node.local(this.now);
    for (const [group, seq] of seqs) {
      const r = node.replicas.get(group);
      if (!r) continue;
      r.durable(seq, t);
      r.endTurn(t);
    }
    this.scheduleSync(node);
  }

  // ------------------------------------------------------------------ faults

  /** Kills a node: memory is gone, unsynced writes survive only as a random prefix (as a torn WAL tail would). */
  crash(id: ReplicaId): void {
    const node = this.nodes.get(id)!;
    if (!node.up) return;
    const unsynced = [...(node.syncing ?? []), ...node.pending];
    node.applySynced(unsynced.slice(0, this.rng.int(0, unsynced.length + 1)));
    node.syncing = undefined;
    node.pending = [];
    node.up = false;
    node.epoch++;
    node.replicas.clear();
    node.wakeAt.clear();
    this.checker.onCrash(id);
  }

  restart(id: ReplicaId): void {
    const node = this.nodes.get(id)!;
    if (node.up) return;
    node.up = true;
    for (const group of node.images.keys()) this.createReplica(node, group);
  }

  partition(side: readonly ReplicaId[]): void {
    const inside = new Set(side);
    for (const a of this.nodes.keys()) {
      for (const b of this.nodes.keys()) {
        if (inside.has(a) !== inside.has(b)) this.faults.blocked.add(`${a}>${b}`);
      }
    }
  }

  heal(): void {
    this.faults.blocked.clear();
  }

  // ------------------------------------------------------------------ workload

  /**
   * A client append at `node`'s replica of `group`; recorded for the checkers when accepted. With a session
   * tag it is idempotent; `bytes` sends given bytes (from `payload`, or a retry of an earlier append's).
   */
  append(
    group: GroupId,
    node: ReplicaId,
    size = 32,
    refCsn = 0,
    session?: SessionTag,
    bytes?: Uint8Array,
    retry = false,
  ): boolean {
    const r = this.replica(node, group);
    if (!r) return false;
    const id = this.nextAppendId++;
    const payload = bytes ?? this.newPayload(id, size);
    const t = this.nodes.get(node)!.local(this.now);
    const out = r.propose(payload, t, session ? { refCsn, session, retry } : { refCsn });
    if (!out.ok) return false;
    this.lastAccepted = { lsn: out.lsn, csn: out.csn };
    if (out.duplicate) return true;
    this.checker.recordAppend({
      id,
      group,
      node,
      pid: r.myPid,
      lsn: out.lsn,
      csn: out.csn,
      payload,
      result: undefined,
      lost: false,
    });
    r.endTurn(t);
    return true;
  }

  /** Fresh payload bytes, unique in the run (so a committed entry is never mistaken for another). */
  payload(size: number): Buffer {
    return this.newPayload(this.nextAppendId++, size);
  }

  private newPayload(id: number, size: number): Buffer {
    const payload = Buffer.alloc(Math.max(8, size));
    payload.writeUInt32LE(id, 0);
    payload.writeUInt32LE(this.opts.seed >>> 0, 4);
    for (let i = 8; i < payload.length; i++) payload[i] = this.rng.int(0, 256);
    return payload;
  }

  changeConfig(group: GroupId, change: ConfigChange): boolean {
    const leader = this.leaderOf(group);
    if (!leader) return false;
    const target = "id" in change ? change.id : undefined;
    if (target && (change.type === "addMember" || change.type === "addLearner")) {
      const node = this.nodes.get(target)!;
      if (!node.up) return false;
      if (!node.replicas.has(group)) this.createReplica(node, group);
    }
    const t = this.nodes.get(leader.self)!.local(this.now);
    const out = leader.changeConfig(change, t);
    leader.endTurn(t);
    return out.ok;
  }

  /** Runs an action at global time `at`. */
  at(at: number, fn: () => void): void {
    this.queue.push(at, { kind: "call", fn });
  }

  /** Processes events until global time `until` (or the queue drains). */
  run(until: number): void {
    while (this.queue.peekTime() <= until) {
      const { at, item } = this.queue.pop()!;
      if (at > this.now) this.sameTimeEvents = 0;
      else if (++this.sameTimeEvents > 100_000) {
        const what =
          item.kind === "wake"
            ? `wake ${item.node}/${item.group} ${JSON.stringify(this.replica(item.node, item.group)?.status())}`
            : item.kind;
        throw new Error(`livelock: 100000 events at t=${this.now} without time passing (last: ${what})`);
      }
      this.now = Math.max(this.now, at);
      if (++this.events > (this.opts.maxEvents ?? 20_000_000)) {
        throw new Error(
          `message storm: more than ${this.opts.maxEvents ?? 20_000_000} events by t=${this.now}`,
        );
      }
      this.step(item);
    }
    this.now = Math.max(this.now, until);
  }

  private step(ev: SimEvent): void {
    switch (ev.kind) {
      case "call":
        ev.fn();
        return;
      case "sync": {
        const node = this.nodes.get(ev.node)!;
        if (node.up && node.epoch === ev.epoch) this.onSync(node);
        return;
      }
      case "wake": {
        const node = this.nodes.get(ev.node)!;
        if (!node.up || node.epoch !== ev.epoch || node.wakeAt.get(ev.group) !== this.now) return;
        const r = node.replicas.get(ev.group);
        if (!r) return;
        node.local(this.now);
        const t = node.reach(node.wakeLocal.get(ev.group) ?? 0);
        r.tick(t);
        r.endTurn(t);
        this.checkLease(node, ev.group);
        return;
      }
      case "deliver": {
        const node = this.nodes.get(ev.to);
        if (!node?.up) return;
        const r = node.replicas.get(ev.msg.group);
        if (!r) return;
        const t = node.local(this.now);
        r.receive(ev.msg, t);
        r.endTurn(t);
        this.checkLease(node, ev.msg.group);
        return;
      }
    }
  }

  /**
   * Lease safety, in true time: at no instant may two replicas of a group consider their lease valid (or serve
   * as leader). A lease only starts at an event of its holder, so checking the others whenever the replica that
   * just handled an event holds one covers every instant.
   */
  private checkLease(node: SimNode, group: GroupId): void {
    const r = node.replicas.get(group);
    if (!r || !holdsLease(r, node.local(this.now))) return;
    for (const other of this.nodes.values()) {
      if (other === node || !other.up) continue;
      const o = other.replicas.get(group);
      if (o && holdsLease(o, other.local(this.now)))
        this.checker.onLeaseOverlap(group, node.id, other.id, this.now);
    }
  }

  /** Highest base LSN of any replica of `group`, live or on a down node's disk (what recycling has dropped). */
  maxBase(group: GroupId): number {
    let base = 0;
    for (const node of this.nodes.values()) {
      const lsn = node.up ? node.replicas.get(group)?.log.base.lsn : node.images.get(group)?.base.lsn;
      base = Math.max(base, lsn ?? 0);
    }
    return base;
  }

  /** Checks that need the whole cluster: log matching across every pair of live replicas. */
  checkLogs(): void {
    for (const g of this.groupIds) {
      const rs = [...this.nodes.values()]
        .filter((n) => n.up)
        .flatMap((n) => (n.replicas.has(g) ? [n.replicas.get(g)!] : []));
      this.checker.checkLogMatching(g, rs);
    }
  }
}

/** Does `r` consider its lease valid at its local time `t` (an election lease, or serving as leader)? */
function holdsLease(r: Replica, t: number): boolean {
  return r.leaseValid(t) || r.servesAsLeader(t);
}

/** A copy of `msg` broken in a way a replica must detect and reject. */
function corrupt(msg: Message, rng: Prng): Message {
  if ((msg.type === "push" || msg.type === "fetchReply") && msg.entries.length > 0 && rng.chance(0.7)) {
    const i = rng.int(0, msg.entries.length);
    const e = msg.entries[i]!;
    if (e.body.length > 0) {
      const body = Buffer.from(e.body);
      body[rng.int(0, body.length)]! ^= 1 << rng.int(0, 8);
      const entries = [...msg.entries];
      entries[i] = { ...e, body };
      return { ...msg, entries };
    }
  }
  const broken = { ...msg } as Record<string, unknown>;
  const fields = Object.keys(broken).filter((k) => k !== "to" && k !== "group");
  broken[rng.pick(fields)] = rng.pick([-1, "x", null, 1.5, Number.NaN]);
  return broken as unknown as Message;
}
