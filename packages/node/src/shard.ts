import {
  type CoalescedLeases,
  type CsnFloorSource,
  type DurableImage,
  type EffectSink,
  type GroupEntryResult,
  hashSeed,
  initialConfig,
  type LogEntry,
  type Message,
  type PersistRecord,
  Replica,
  type ReplicaEvent,
  type ReplicaOptions,
  type RetryResult,
} from "@palf/core";
import { GTS_GROUP } from "@palf/gts";
import type { ShardWal, ShardWalSpace, WalRecord } from "@palf/storage";
import type { AppendItem, AppendOutcomeWire, LeaderEvent, RpcError } from "@palf/transport";
import type { Logger } from "pino";
import { AppendWaiters, RequestAnswers } from "./append-waiters.ts";
import { handLeadershipsAway, preferredLeader, rebalance, transferAll } from "./leadership-balance.ts";
import type { NodeObserver } from "./node-metrics.ts";
import type { NodeUnsafeSwitches } from "./node-unsafe.ts";
import { type ReadPage, readPage } from "./read-paging.ts";
import { type NodeRuntime, realRuntime, type TimerHandle } from "./runtime.ts";
import { TimerWheel } from "./timer-wheel.ts";
import type { TurnLag } from "./turn-lag.ts";
import { decodeGroupEntry, toWalRecord } from "./wal-binding.ts";

/** One group hosted by this shard. */
class GroupSlot {
  readonly waiters = new AppendWaiters();
  replica!: Replica;
  constructor(
    readonly group: number,
    readonly inc: number,
  ) {}
}

export interface ShardOptions {
  readonly nodeId: string;
  readonly index: number;
  readonly wal: ShardWal;
  readonly log: Logger;
  /** Sends one turn's messages to one peer node (one frame, or a few if large). */
  readonly send: (toNode: string, messages: Message[]) => void;
  /** Messages from this node to itself (possibly another shard). */
  readonly deliverLocal: (messages: Message[]) => void;
  readonly onLeader: (event: LeaderEvent) => void;
  /** The node's coalesced lease renewals; told when leaderships or memberships change. */
  readonly leases?: CoalescedLeases & { markDirty(): void };
  /** The node's measure of slow loop turns: each turn reports its duration, each replica reads it. */
  readonly loopLag?: TurnLag;
  /**
   * A group's leadership, config or next LSN may have changed (an append, a role or config event, creation,
   * deletion). Called synchronously, before anything else can observe the change (watermark rounds).
   */
  readonly changed?: (group: number) => void;
  /** An fdatasync or write failed: the node must stop (never retry an fsync). */
  readonly onFatal: (err: Error) => void;
  readonly replica?: Partial<Omit<ReplicaOptions, "group" | "self" | "initialConfig">>;
  /** Bytes of recent entries per group kept in memory; older ones are read back from the WAL. */
  readonly hotBytesPerGroup?: number;
  /**
   * The WAL's disk budget (the same as its `diskBudgetBytes`): replicas reserve room in it before they assign
   * LSNs or take entries (see ShardWalSpace); without room, appends meet back-pressure and pushes wait.
   */
  readonly diskBudgetBytes?: number;
  /** Room that follows the filesystem's free space (the node's DiskSpaceWatch moves its budget); wins over diskBudgetBytes. */
  readonly walSpace?: ShardWalSpace;
  /** Clock and timers (the simulator's virtual ones in tests). */
  readonly runtime?: NodeRuntime;
  /** The node's GTS floor for data groups' CSNs (group 0, the GTS group, has none). */
  readonly csnFloor?: CsnFloorSource;
  /** Test-only rule breaches (see NodeUnsafeSwitches); never set in production. */
  readonly unsafe?: NodeUnsafeSwitches;
  /** Sees every replica event and append result (checkers of the whole-node simulator). */
  readonly inspect?: NodeInspector;
  /** Loop-turn timings for metrics (palfd). */
  readonly observer?: NodeObserver;
}

/** Read-only observer of a node's replicas (the whole-node simulator's checkers). */
export interface NodeInspector {
  event?(group: number, event: ReplicaEvent, replica: Replica): void;
  result?(group: number, result: GroupEntryResult, replica: Replica): void;
}

/** Inbound messages one loop turn takes at most (about 100 ms of work on this machine's cores). */
const MAX_INBOUND_PER_TURN = 2048;

/**
 * A shard: its groups, their deadlines on one timer wheel, one WAL and one loop. A loop turn drains inbound
 * messages, fires due deadlines, ends the turn of every touched replica (freezing group entries), submits
 * all records to the WAL for one flush, and sends one batch per destination node. Durability comes back
 * from the flush and releases the messages the core held for it.
 */
export class Shard {
  readonly groups = new Map<number, GroupSlot>();
  private inbound: Message[] = [];
  private outbound = new Map<string, Message[]>();
  private walRecords: WalRecord[] = [];
  private walSeqs = new Map<GroupSlot, number>();
  /** Only for NodeUnsafeSwitches.durableFromLaterFlush: the latest seq submitted per group. */
  private readonly submittedSeqs = new Map<GroupSlot, number>();
  private touched = new Set<GroupSlot>();
  /** Groups whose replica learned it was removed (a committed config names it nowhere): dropped after the turn. */
  private removed: number[] = [];
  private readonly timers = new TimerWheel<GroupSlot>(5);
  private turnScheduled = false;
  private timer: TimerHandle | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private fatal: Error | undefined;
  private stopped = false;
  /** Room in the WAL's disk budget, reserved before LSNs are assigned; none without a budget. */
  private readonly space: ShardWalSpace | undefined;
  private recycling = false;
  readonly stats = {
    turns: 0,
    /** Replica turns ended, summed over loop turns (groups touched per turn = groupsTurned / turns). */
    groupsTurned: 0,
    messagesIn: 0,
    messagesOut: 0,
    flushes: 0,
    appends: 0,
    unknownGroup: 0,
    noWalRoom: 0,
    /** Appends answered committed by this shard's leaders. */
    committed: 0,
    /** Replicas here that became candidates (elections started) and leaders (leaderships won). */
    elections: 0,
    leaderships: 0,
    /** Replicas ticked because their timer came due (an idle node's per-group timer cost). */
    ticks: 0,
  };

  private readonly rt: NodeRuntime;

  constructor(private readonly opts: ShardOptions) {
    this.rt = opts.runtime ?? realRuntime;
    // Test-only breach (assignBeyondBudget): no reservations, so the budget is found only when a submit is refused.
    const budget = opts.diskBudgetBytes;
    this.space = opts.unsafe?.assignBeyondBudget
      ? undefined
      : (opts.walSpace ?? (budget ? opts.wal.room(budget) : undefined));
  }

  now(): number {
    return this.rt.now();
  }

  // ------------------------------------------------------------------ groups

  /** Creates a new group replica (persisting its creation) or recovers one from its durable image. */
  addGroup(
    group: number,
    members: readonly string[],
    learners: readonly string[],
    inc: number,
    image?: DurableImage,
  ): void {
    if (this.groups.has(group)) throw new Error(`group ${group} already exists on shard ${this.opts.index}`);
    const slot = new GroupSlot(group, inc);
    this.groups.set(group, slot);
    this.opts.changed?.(group);
    const config = image?.base.config ?? initialConfig(members, learners);
    slot.replica = new Replica(
      {
        seed: (group * 2654435761) ^ hashSeed(this.opts.nodeId),
        priority: preferredLeader(group, config.members) === this.opts.nodeId ? 1 : 0,
        ...this.opts.replica,
        group,
        self: this.opts.nodeId,
        inc,
        initialConfig: config,
      },
      this.sinkFor(slot),
      this.now(),
      image,
    );
    if (this.opts.leases) slot.replica.useCoalescedLeases(this.opts.leases);
    if (this.opts.loopLag) slot.replica.useLoopLag(this.opts.loopLag);
    if (this.opts.csnFloor && group !== GTS_GROUP) slot.replica.useCsnFloor(this.opts.csnFloor);
    if (this.space) slot.replica.useWalSpace(this.space);
    const wal = this.opts.wal;
    slot.replica.useColdStore((lsn) => {
      const bytes = wal.readEntry(group, lsn);
      return bytes ? decodeGroupEntry(bytes) : undefined;
    });
    if (!image) {
      // The group's existence and config are durable before anything else happens in it.
      this.queue(toWalRecord(group, { kind: "base", base: slot.replica.base, reset: false }, inc));
    }
    this.touched.add(slot);
    this.scheduleTurn();
  }

  deleteGroup(group: number): boolean {
    const slot = this.groups.get(group);
    if (!slot) return false;
    this.groups.delete(group);
    this.opts.changed?.(group);
    this.timers.cancel(slot);
    // The next loop turn must not end this replica's turn: it would write its open entry after the drop record.
    this.touched.delete(slot);
    // Its open group entry will never be written.
    this.space?.release(slot.replica.unpersistedBytes());
    slot.waiters.failAll({ code: "UNKNOWN_GROUP", message: "group deleted" });
    this.queue({ kind: "drop-group", group });
    this.scheduleTurn();
    return true;
  }

  private sinkFor(slot: GroupSlot): EffectSink {
    return {
      persist: (_group: number, seq: number, record: PersistRecord) => {
        this.queue(toWalRecord(slot.group, record, slot.inc));
        this.walSeqs.set(slot, seq);
      },
      send: (m: Message) => {
        let list = this.outbound.get(m.to);
        if (!list) {
          list = [];
          this.outbound.set(m.to, list);
        }
        list.push(m);
      },
      result: (r: GroupEntryResult) => {
        this.opts.inspect?.result?.(slot.group, r, slot.replica);
        this.stats.committed += slot.waiters.settle(r);
      },
      retryResult: (r: RetryResult) => slot.waiters.settleRetry(r),
      event: (e: ReplicaEvent) => {
        this.opts.inspect?.event?.(slot.group, e, slot.replica);
        this.onEvent(slot, e);
      },
      wake: (_group: number, at: number) => {
        this.timers.schedule(slot, at);
        this.armTimer();
      },
    };
  }

  /** Something outside a loop turn changed this group's replica (the lease hub): give it a turn. */
  touch(group: number): void {
    const slot = this.groups.get(group);
    if (!slot) return;
    this.touched.add(slot);
    this.scheduleTurn();
  }

  /** Ticks this group's replica at the next turn (the lease hub: the renewals that kept it quiet stopped). */
  wake(group: number): void {
    const slot = this.groups.get(group);
    if (!slot) return;
    this.timers.schedule(slot, 0);
    this.armTimer();
  }

  *replicas(): Generator<Replica> {
    for (const slot of this.groups.values()) yield slot.replica;
  }

  // ------------------------------------------------------------------ inputs

  receive(messages: readonly Message[]): void {
    for (const m of messages) this.inbound.push(m);
    this.scheduleTurn();
  }

  /** Serves one append request's items (the RPC's, or GTS ceilings): each answered {lsn, csn} once committed, or an error. */
  serveAppends(group: number, items: readonly AppendItem[]): Promise<AppendOutcomeWire[]> {
    const slot = this.groups.get(group);
    if (!slot)
      return Promise.resolve(
        items.map(() => ({ error: { code: "UNKNOWN_GROUP", message: `no group ${group} here` } })),
      );
    if (this.fatal || this.stopped) {
      return Promise.resolve(
        items.map(() => ({ error: { code: "STOPPING", message: "node is stopping" } as RpcError })),
      );
    }
    const r = slot.replica;
    const now = this.now();
    this.opts.changed?.(group);
    // One promise per request, not per item: each item's answer lands in its slot of the request's answers.
    const answers = new RequestAnswers(items.length);
    for (let index = 0; index < items.length; index++) {
      const item = items[index]!;
      const options = item.session
        ? { refCsn: item.refCsn ?? 0, session: item.session, retry: item.retry === true }
        : { refCsn: item.refCsn ?? 0 };
      const res = r.propose(item.payload, now, options);
      if (!res.ok) {
        const error: { code: RpcError["code"]; leader?: string; message?: string } = { code: res.code };
        if (res.leader !== undefined) error.leader = res.leader;
        if (res.reason !== undefined) error.message = res.reason;
        answers.answer(index, { error });
        continue;
      }
      this.stats.appends++;
      // Test-only breach (answerBeforeCommit): the later explicit result finds the item already answered.
      if (this.opts.unsafe?.answerBeforeCommit || res.id === undefined)
        answers.answer(index, { lsn: res.lsn, csn: res.csn });
      // No id: a retry of an append already committed, answered above.
      if (res.id !== undefined) slot.waiters.add(res.id, { lsn: res.lsn, csn: res.csn, answers, index });
    }
    this.touched.add(slot);
    this.scheduleTurn();
    return answers.all;
  }

  read(group: number, fromLsn: number, maxEntries: number, maxBytes: number): ReadPage | undefined {
    const slot = this.groups.get(group);
    return slot ? readPage(slot.replica, fromLsn, maxEntries, maxBytes) : undefined;
  }

  locate(group: number, csn: number): LogEntry | null | undefined {
    const slot = this.groups.get(group);
    if (!slot) return undefined;
    return slot.replica.locateByCsn(csn) ?? null;
  }

  // ------------------------------------------------------------------ the loop

  private scheduleTurn(): void {
    if (this.turnScheduled || this.stopped) return;
    this.turnScheduled = true;
    this.rt.setImmediate(() => this.turn());
  }

  private armTimer(): void {
    const at = this.timers.nextAt();
    if (at >= this.timerAt) return;
    if (this.timer) this.rt.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.rt.setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Number.POSITIVE_INFINITY;
        this.scheduleTurn();
      },
      Math.max(0, at - this.now()),
    );
  }

  /** One loop turn; see the class comment. */
  turn(): void {
    this.turnScheduled = false;
    if (this.stopped || this.fatal) return;
    this.stats.turns++;
    const observer = this.opts.observer;
    const t0 = observer ? performance.now() : 0;
    const now = this.now();
    // A bounded share of the inbound per turn: the rest waits for the next turn, and the event loop reads the
    // network in between (lease renewals and their acks are answered on arrival, outside turns). One turn
    // taking all of a backlog of tens of thousands of messages ran for seconds, leases lapsed for want of
    // those answers, and the elections that followed made the next turns longer still.
    const inbound =
      this.inbound.length > MAX_INBOUND_PER_TURN
        ? this.inbound.splice(0, MAX_INBOUND_PER_TURN)
        : this.inbound;
    if (inbound === this.inbound) this.inbound = [];
    this.stats.messagesIn += inbound.length;
    for (const m of inbound) {
      const slot = this.groups.get(m.group);
      if (!slot) {
        this.stats.unknownGroup++;
        continue;
      }
      slot.replica.receive(m, now);
      this.touched.add(slot);
    }
    for (const slot of this.timers.due(now)) {
      if (this.groups.get(slot.group) !== slot) continue;
      this.stats.ticks++;
      slot.replica.tick(now);
      this.touched.add(slot);
    }
    const touched = this.touched;
    this.touched = new Set();
    this.stats.groupsTurned += touched.size;
    for (const slot of touched) slot.replica.endTurn(now);
    this.dropRemoved();
    this.flushWal();
    this.sendOutbound();
    this.recycleIfShort();
    this.armTimer();
    if (this.inbound.length > 0) this.scheduleTurn();
    this.opts.loopLag?.turnTook(this.now() - now);
    observer?.turn?.(this.opts.index, performance.now() - t0);
  }

  /**
   * Deletes the replicas that learned this turn that they were removed from their group (the committed
   * config of a member names them nowhere): what a replaced node that came back still held.
   */
  private dropRemoved(): void {
    const groups = this.removed;
    if (groups.length === 0) return;
    this.removed = [];
    for (const g of groups) {
      const r = this.groups.get(g)?.replica;
      if (r?.removed === undefined) continue;
      const { by, version } = r.removed;
      this.opts.log.warn(
        { group: g, by, config: `${version.pid}.${version.seq}` },
        "replica removed from its group (a committed config names this node nowhere): deleting it",
      );
      this.deleteGroup(g);
    }
  }

  /** Queues a record for this turn's WAL batch. */
  private queue(record: WalRecord): void {
    this.walRecords.push(record);
    this.space?.queued(record);
  }

  /**
   * Something was refused for lack of room: recycle now (bases may have advanced since the node's last
   * recycling), one at a time, rather than leave appends waiting for the node's recycling timer.
   */
  private recycleIfShort(): void {
    const refused = this.space?.takeRefused() ?? 0;
    if (refused === 0) return;
    this.stats.noWalRoom += refused;
    if (this.recycling) return;
    this.recycling = true;
    const done = () => {
      this.recycling = false;
    };
    this.opts.wal.recycle().then(done, (err: Error) => {
      done();
      this.opts.log.warn({ err, shard: this.opts.index }, "WAL recycle");
    });
  }

  private flushWal(): void {
    if (this.walRecords.length === 0) return;
    const records = this.walRecords;
    const seqs = this.walSeqs;
    this.walRecords = [];
    this.walSeqs = new Map();
    this.space?.submitting();
    let refused: ReadonlyMap<number, Error>;
    try {
      refused = this.opts.wal.submit(records);
    } catch (err) {
      // The core already assigned LSNs to these records: the replicas leave service (never silently drop).
      for (const slot of seqs.keys()) slot.replica.fail((err as Error).message);
      this.opts.log.error({ err, shard: this.opts.index }, "WAL refused a batch; its groups leave service");
      return;
    }
    // A group whose record the WAL refused leaves service alone; the other groups' records went in.
    if (refused.size > 0) {
      for (const slot of seqs.keys()) {
        const problem = refused.get(slot.group)?.message;
        if (problem === undefined) continue;
        seqs.delete(slot);
        slot.replica.fail(`WAL refused its record: ${problem}`);
        this.opts.log.error({ shard: this.opts.index, group: slot.group, problem }, "a group leaves service");
      }
      if (records.every((r) => refused.has(r.group))) return;
    }
    this.stats.flushes++;
    const unsafe = this.opts.unsafe;
    if (unsafe?.durableOnSubmit) this.reportDurable(seqs);
    if (unsafe?.durableFromLaterFlush) for (const [slot, seq] of seqs) this.submittedSeqs.set(slot, seq);
    this.opts.wal.flush().then(
      () => {
        if (unsafe?.durableFromLaterFlush) {
          // The breach: everything submitted so far counts, including what the next flush has yet to write.
          this.reportDurable(this.submittedSeqs);
          return;
        }
        this.reportDurable(seqs);
      },
      (err: Error) => {
        this.fatal = err;
        this.opts.onFatal(err);
      },
    );
  }

  /** A flush made these records durable: releases what each replica held for them. */
  private reportDurable(seqs: ReadonlyMap<GroupSlot, number>): void {
    const now = this.now();
    for (const [slot, seq] of seqs) {
      if (this.groups.get(slot.group) !== slot) continue;
      slot.replica.durable(seq, now);
      // Durable here and committed: the WAL holds it, memory keeps only the newest few hundred KB.
      slot.replica.evictBodies(this.opts.hotBytesPerGroup ?? 256 * 1024);
      this.touched.add(slot);
    }
    this.scheduleTurn();
  }

  private sendOutbound(): void {
    if (this.outbound.size === 0) return;
    const outbound = this.outbound;
    this.outbound = new Map();
    for (const [to, messages] of outbound) {
      this.stats.messagesOut += messages.length;
      if (to === this.opts.nodeId) this.opts.deliverLocal(messages);
      else this.opts.send(to, messages);
    }
  }

  // ------------------------------------------------------------------ results and events

  private onEvent(slot: GroupSlot, e: ReplicaEvent): void {
    switch (e.type) {
      case "config":
        this.opts.leases?.markDirty();
        this.opts.changed?.(slot.group);
        break;
      case "role":
        this.opts.leases?.markDirty();
        this.opts.changed?.(slot.group);
        if (e.role === "candidate") this.stats.elections++;
        if (e.role === "leader") {
          this.stats.leaderships++;
          this.opts.onLeader({ group: slot.group, leader: this.opts.nodeId, pid: slot.replica.myPid });
        }
        break;
      case "removed":
        this.removed.push(slot.group);
        this.scheduleTurn();
        break;
      case "halted":
        this.opts.changed?.(slot.group);
        this.opts.log.error({ group: slot.group, reason: e.reason }, "replica halted");
        break;
      case "rejected":
        this.opts.log.debug({ group: slot.group, from: e.from, reason: e.reason }, "rejected message");
        break;
      default:
        break;
    }
  }

  // ------------------------------------------------------------------ status and stop

  leaders(): number[] {
    const out: number[] = [];
    for (const slot of this.groups.values()) if (slot.replica.role === "leader") out.push(slot.group);
    return out;
  }

  replica(group: number): Replica | undefined {
    return this.groups.get(group)?.replica;
  }

  /** Leadership balance (see leadership-balance.ts): leaders hand over to caught-up preferred members. */
  rebalance(): void {
    for (const r of rebalance(this.replicas(), this.opts.nodeId, this.now())) this.touch(r.group);
  }

  /** Hands every leadership to another member (graceful stop); this node stands for no election after. */
  transferAll(): void {
    transferAll(this.replicas(), this.opts.nodeId, this.now());
    for (const slot of this.groups.values()) this.touched.add(slot);
    this.scheduleTurn();
  }

  /** Hands each leadership to a member that has the whole log (the disk is nearly full); returns how many. */
  handLeadershipsAway(): number {
    const moved = handLeadershipsAway(this.replicas(), this.opts.nodeId, this.now());
    for (const r of moved) this.touch(r.group);
    return moved.length;
  }

  /** Stops the loop; the caller closes the WAL after the last flush. */
  stop(): void {
    this.stopped = true;
    if (this.timer) this.rt.clearTimeout(this.timer);
    // Records the replicas asked for since the last turn still go to the WAL (the caller flushes it).
    if (this.walRecords.length > 0 && !this.fatal) {
      this.space?.submitting();
      try {
        const refused = this.opts.wal.submit(this.walRecords);
        if (refused.size > 0)
          this.opts.log.warn({ groups: [...refused.keys()] }, "last records at stop were refused by the WAL");
      } catch (err) {
        this.opts.log.warn({ err }, "last records at stop were refused by the WAL");
      }
      this.walRecords = [];
    }
    for (const slot of this.groups.values())
      slot.waiters.failAll({ code: "STOPPING", message: "node stopped; result unknown" });
  }
}
