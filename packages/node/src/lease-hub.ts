import type { CoalescedLeases, LeaseRenew, LeaseRenewReply, Message, Replica } from "@palf/core";
import type { NodeUnsafeSwitches } from "./node-unsafe.ts";
import { type NodeRuntime, realRuntime, type TimerHandle } from "./runtime.ts";

/** What the hub needs from its node. */
export interface LeaseHubHost {
  readonly nodeId: string;
  /** Every local replica. */
  replicas(): Iterable<Replica>;
  replica(group: number): Replica | undefined;
  /** A replica's effects changed outside a loop turn: run a turn for it. */
  touch(group: number): void;
  /** Tick this group's replica soon: the renewals that kept it quiet stopped. */
  wake(group: number): void;
  send(to: string, messages: Message[]): void;
}

export interface LeaseTiming {
  readonly renewMs: number;
  readonly leaseMs: number;
  readonly maxDrift: number;
  readonly leaseGuardMs: number;
}

/** Member side, per leader node: the set it renews and when it last did. */
interface HeardFrom {
  epoch: number;
  set: Map<number, number>;
  renewedAt: number;
  /** The groups of `set` were woken because renewals stopped; cleared by the next renewal. */
  lapsed: boolean;
}

/** Leader side, per member node: the sets sent to it, and what its acks cover. */
interface SentTo {
  epoch: number;
  /** Sets by epoch, kept until acked (or superseded). */
  readonly sets: Map<number, Map<number, number>>;
  /** Set in force at the member (last acked epoch, minus what it refused). */
  covered: Map<number, number>;
  coveredEpoch: number;
  /** Send time of the latest renewal the member acked for `coveredEpoch`. */
  ackedSentAt: number;
  needFull: boolean;
  /** Full sets sent, by seq, whose parts' replies are still coming in. */
  readonly fullSets: Map<number, FullSetReplies>;
  /** The groups of `covered` were woken because the acks lapsed; cleared by the next ack. */
  lapsed: boolean;
}

/**
 * The replies to one full set: the member checks every group of a full set, so once each part has answered,
 * what it refused across them is all it does not grant. Any other reply names only what changed since.
 */
interface FullSetReplies {
  readonly epoch: number;
  partsLeft: number;
  readonly refused: Set<number>;
}

/** Pairs per LeaseRenew message, so one message stays well below a frame (about 9 bytes a number). */
const MAX_PAIRS_PER_MESSAGE = 20_000;
/** The full set is resent every this many renewals even if unchanged (members' grants may have changed). */
const FULL_EVERY = 8;

/**
 * Coalesced liveness. Once per renew interval this node sends each peer one LeaseRenew naming, by epoch, the
 * set of groups it leads with that peer as a member; the set itself travels only when it changed (or every
 * few intervals). Neither side touches a group to renew it: replicas ask `CoalescedLeases` lazily when they
 * check a grant or a lease, so 10,000 idle groups cost a few messages a second. A member whose grant does
 * not match is reported (refused) and gets a per-group vote instead, at most once a lease.
 */
export class LeaseHub implements CoalescedLeases {
  /** Bumped by acks only (the member side's answers are read fresh): see CoalescedLeases.version. */
  version = 0;
  /** Bumped whenever the grants some member's acks cover are replaced (a new set, or refusals). */
  coverageVersion = 0;
  private seq = 0;
  private periodicRounds = 0;
  private readonly sentAt = new Map<number, number>();
  private readonly heard = new Map<string, HeardFrom>();
  private readonly sent = new Map<string, SentTo>();
  /** group -> leader nodes whose current set names it (member side, for leaderHeardUntil). */
  private readonly namedBy = new Map<number, string[]>();
  private readonly refusedAt = new Map<string, number>();
  /** Member side, per leader node: groups of its set whose grant we moved to someone else since our last reply. */
  private readonly moved = new Map<string, Set<number>>();
  private dirty = true;
  private timer: TimerHandle | undefined;
  /** Leader side: one timer for the node, at the earliest time some member's acks stop counting. */
  private coverTimer: TimerHandle | undefined;
  private coverTimerAt = Number.POSITIVE_INFINITY;
  /** `lapseWakes`: led groups woken because a member's acks lapsed or stopped covering them. */
  readonly stats = { renewals: 0, fullSets: 0, pairsSent: 0, refused: 0, needSet: 0, lapseWakes: 0 };

  constructor(
    private readonly host: LeaseHubHost,
    private readonly timing: LeaseTiming,
    private readonly rt: NodeRuntime = realRuntime,
    private readonly unsafe: NodeUnsafeSwitches = {},
  ) {}

  start(): void {
    this.timer = this.rt.setInterval(() => this.renewAll(this.rt.now()), this.timing.renewMs);
  }

  stop(): void {
    this.rt.clearInterval(this.timer);
    if (this.coverTimer) this.rt.clearTimeout(this.coverTimer);
    this.coverTimer = undefined;
  }

  /** A leadership, ballot or membership changed somewhere: rebuild the sets at the next renewal. */
  markDirty(): void {
    this.dirty = true;
  }

  // ------------------------------------------------------------------ CoalescedLeases

  grantRenewedUntil(group: number, peer: string, ballot: number): number {
    const h = this.heard.get(peer);
    return h && h.set.get(group) === ballot ? h.renewedAt + this.timing.leaseMs : Number.NEGATIVE_INFINITY;
  }

  leaderHeardUntil(group: number): number {
    let until = Number.NEGATIVE_INFINITY;
    for (const peer of this.namedBy.get(group) ?? []) {
      const h = this.heard.get(peer);
      if (h?.set.has(group)) until = Math.max(until, h.renewedAt + this.timing.leaseMs);
    }
    return until;
  }

  memberGrantUntil(group: number, member: string, ballot: number): number {
    const s = this.sent.get(member);
    if (!s || s.covered.get(group) !== ballot) return Number.NEGATIVE_INFINITY;
    return this.until(s);
  }

  /** Until when `member`'s acks count toward every lease they cover (memberGrantUntil of each). */
  coveredUntil(member: string): number {
    const s = this.sent.get(member);
    return s ? this.until(s) : Number.NEGATIVE_INFINITY;
  }

  /**
   * The members (of its latest config) whose acks cover this leader's lease ballot: with `coverageVersion`
   * unchanged they keep covering it, so their `coveredUntil` shows the lease holds (watermarks count them
   * once per member set for all carried groups).
   */
  coveringMembers(r: Replica): string[] {
    const ballot = r.leaseBallot;
    return r.latestConfig.members.filter((m) => this.sent.get(m)?.covered.get(r.group) === ballot);
  }

  /** Counted from when the acked renewal left, like a per-group grant: L(1 - 2 drift) - guard. */
  private until(s: SentTo): number {
    const t = this.timing;
    return s.ackedSentAt + t.leaseMs * (1 - 2 * t.maxDrift) - t.leaseGuardMs;
  }

  grantMoved(group: number, to: string): void {
    for (const peer of this.namedBy.get(group) ?? []) {
      if (peer === to) continue;
      this.heard.get(peer)?.set.delete(group);
      let set = this.moved.get(peer);
      if (!set) {
        set = new Set();
        this.moved.set(peer, set);
      }
      set.add(group);
    }
  }

  // ------------------------------------------------------------------ leader side

  /**
   * A renewal round now, besides the interval's: a busy node renews with each watermark round, so its acks
   * stay as fresh as they were when rounds waited for their own renewals (leases of busy groups on a loaded
   * machine lapse less); an idle node sends none.
   */
  renewNow(): void {
    this.renewAll(this.rt.now(), false);
  }

  /** One renewal to every peer; `periodic` (the interval's own rounds) counts toward the periodic full set. */
  renewAll(now: number, periodic = true): void {
    this.wakeLapsed(now);
    const seq = ++this.seq;
    this.sentAt.set(seq, now);
    this.sentAt.delete(seq - 64);
    // Extra rounds must not make the full set travel more often.
    if (periodic) this.periodicRounds++;
    const full = this.dirty || (periodic && this.periodicRounds % FULL_EVERY === 0);
    const sets = full ? this.buildSets() : undefined;
    this.dirty = false;
    const peers = new Set([...this.sent.keys(), ...(sets?.keys() ?? [])]);
    for (const peer of peers) {
      let s = this.sent.get(peer);
      if (!s) {
        s = {
          epoch: 0,
          sets: new Map(),
          covered: new Map(),
          coveredEpoch: -1,
          ackedSentAt: Number.NEGATIVE_INFINITY,
          needFull: true,
          fullSets: new Map(),
          lapsed: false,
        };
        this.sent.set(peer, s);
      }
      const set = sets?.get(peer) ?? (sets ? new Map<number, number>() : undefined);
      // Nothing led with this peer, now or in the last set it heard: no renewal to send.
      if ((set ?? s.sets.get(s.epoch) ?? new Map()).size === 0 && (s.sets.get(s.epoch)?.size ?? 0) === 0)
        continue;
      let pairs: number[] = [];
      if (set) {
        if (!sameSet(set, s.sets.get(s.epoch))) {
          s.epoch++;
          s.sets.set(s.epoch, set);
          for (const e of s.sets.keys()) if (e < s.coveredEpoch && e !== s.epoch) s.sets.delete(e);
        }
        pairs = flatten(set);
      } else if (s.needFull) pairs = flatten(s.sets.get(s.epoch) ?? new Map());
      const sendFull = set !== undefined || s.needFull;
      s.needFull = false;
      this.stats.renewals++;
      if (sendFull) this.stats.fullSets++;
      this.stats.pairsSent += pairs.length / 2;
      const messages = this.renewMessages(peer, seq, s.epoch, sendFull ? pairs : []);
      if (sendFull) {
        s.fullSets.set(seq, { epoch: s.epoch, partsLeft: messages.length, refused: new Set() });
        for (const old of s.fullSets.keys()) if (old <= seq - 64) s.fullSets.delete(old);
      }
      this.host.send(peer, messages);
    }
  }

  private buildSets(): Map<string, Map<number, number>> {
    const sets = new Map<string, Map<number, number>>();
    for (const r of this.host.replicas()) {
      if (!r.leaseHeld) continue;
      const ballot = r.leaseBallot;
      for (const m of r.latestConfig.members) {
        let set = sets.get(m);
        if (!set) {
          set = new Map();
          sets.set(m, set);
        }
        set.set(r.group, ballot);
      }
    }
    return sets;
  }

  private renewMessages(to: string, seq: number, epoch: number, pairs: number[]): Message[] {
    const out: Message[] = [];
    for (let i = 0; i < pairs.length || i === 0; i += MAX_PAIRS_PER_MESSAGE * 2) {
      const groups = pairs.slice(i, i + MAX_PAIRS_PER_MESSAGE * 2);
      out.push({ type: "leaseRenew", group: 0, inc: 0, from: this.host.nodeId, to, seq, epoch, groups });
    }
    return out;
  }

  onReply(m: LeaseRenewReply, now: number): void {
    const s = this.sent.get(m.from);
    if (!s) return;
    if (m.needSet) {
      this.stats.needSet++;
      s.needFull = true;
      return;
    }
    // Test-only breach (hubLeaseFromAck): count from the ack's arrival, however old the renewal it answers.
    const sentAt = this.unsafe.hubLeaseFromAck ? now : this.sentAt.get(m.seq);
    if (sentAt === undefined) return;
    if (m.epoch < s.coveredEpoch) return;
    const set = s.sets.get(m.epoch);
    if (!set) return;
    const full = s.fullSets.get(m.seq);
    let complete = false;
    if (full !== undefined && full.epoch === m.epoch) {
      for (const g of m.refused) full.refused.add(g);
      complete = --full.partsLeft === 0;
      if (complete) s.fullSets.delete(m.seq);
    }
    const fresh = m.epoch !== s.coveredEpoch;
    // Test-only breach (hubRecountRefused): a part's reply counts at once, and any reply with refusals
    // rebuilds coverage from the whole set minus those refusals alone.
    const recount = this.unsafe.hubRecountRefused === true;
    if (!recount && fresh && full !== undefined && full.epoch === m.epoch && !complete) {
      // A part of a new set, other parts unanswered: the member has not renewed their groups yet (and may
      // never, if a part is lost), so the acks count for nothing new. Refusals take effect at once.
      const covered = new Map(s.covered);
      for (const g of m.refused) covered.delete(g);
      if (!sameSet(covered, s.covered)) {
        this.replaceCoverage(s, covered);
        this.coverageVersion++;
      }
      this.version++;
      for (const group of m.refused) this.askDirectly(group, m.from, now);
      return;
    }
    // Coverage unchanged (a full set's replies refusing what was already left out): the acks only move on.
    let changed = false;
    if (complete || fresh || m.refused.length > 0) {
      // Only a whole full set's replies say what the member grants; any other reply says what it stopped
      // granting. Starting from the whole set there would count again a group it refused before and still
      // grants to someone else (two leases at once).
      const whole = recount ? fresh || m.refused.length > 0 : complete || fresh;
      const covered = new Map(whole ? set : s.covered);
      for (const g of complete && !recount ? full!.refused : m.refused) covered.delete(g);
      changed = fresh || !sameSet(covered, s.covered);
      if (changed) this.replaceCoverage(s, covered);
    }
    if (changed) {
      s.coveredEpoch = m.epoch;
      this.coverageVersion++;
      s.ackedSentAt = sentAt;
    } else {
      s.ackedSentAt = Math.max(s.ackedSentAt, sentAt);
    }
    s.lapsed = false;
    this.armCoverTimer();
    this.version++;
    for (const group of m.refused) this.askDirectly(group, m.from, now);
  }

  /** What a member's acks cover is now `covered`; leaders whose lease rested on them keep no timer of their own, so those no longer covered are woken. */
  private replaceCoverage(s: SentTo, covered: Map<number, number>): void {
    for (const [g, ballot] of s.covered) if (covered.get(g) !== ballot) this.wakeLeader(g);
    s.covered = covered;
  }

  private wakeLeader(group: number): void {
    this.stats.lapseWakes++;
    this.host.wake(group);
  }

  /**
   * Arms the node's one lapse timer at the earliest time some member's acks stop counting (if earlier than
   * the one armed). Acks only move those times later, so a timer that fires early just re-arms.
   */
  private armCoverTimer(): void {
    let at = Number.POSITIVE_INFINITY;
    for (const s of this.sent.values()) if (!s.lapsed && s.covered.size > 0) at = Math.min(at, this.until(s));
    if (at >= this.coverTimerAt) return;
    if (this.coverTimer) this.rt.clearTimeout(this.coverTimer);
    this.coverTimerAt = at;
    this.coverTimer = this.rt.setTimeout(
      () => {
        this.coverTimer = undefined;
        this.coverTimerAt = Number.POSITIVE_INFINITY;
        this.wakeUncovered(this.rt.now());
        this.armCoverTimer();
      },
      Math.max(0, at - this.rt.now()),
    );
  }

  /** Members whose acks lapsed: wake every group they covered, whose lease may have ended with them. */
  private wakeUncovered(now: number): void {
    for (const s of this.sent.values()) {
      if (s.lapsed || s.covered.size === 0 || now < this.until(s)) continue;
      s.lapsed = true;
      for (const group of s.covered.keys()) this.wakeLeader(group);
    }
  }

  /** A member that refused: one per-group vote (which can grant anew), at most once a lease. */
  private askDirectly(group: number, member: string, now: number): void {
    this.stats.refused++;
    const key = `${group}/${member}`;
    const last = this.refusedAt.get(key);
    if (last !== undefined && now - last < this.timing.leaseMs) return;
    this.refusedAt.set(key, now);
    const r = this.host.replica(group);
    if (!r?.leaseHeld) return;
    r.renewLeaseWith(member, now);
    this.host.touch(group);
  }

  // ------------------------------------------------------------------ member side

  /** A leader node whose renewals stopped for a lease: wake every group it named, so they may stand. */
  private wakeLapsed(now: number): void {
    for (const h of this.heard.values()) {
      if (h.lapsed || now < h.renewedAt + this.timing.leaseMs) continue;
      h.lapsed = true;
      for (const group of h.set.keys()) this.host.wake(group);
    }
  }

  onRenew(m: LeaseRenew, now: number): void {
    let h = this.heard.get(m.from);
    const refused: number[] = [];
    if (m.groups.length > 0) {
      // A (part of a) full set. Parts of one set share seq and epoch; the first part starts it afresh.
      if (!h || h.epoch !== m.epoch) {
        const previous = h;
        h = { epoch: m.epoch, set: new Map(), renewedAt: now, lapsed: false };
        this.heard.set(m.from, h);
        if (previous) this.dropLater(previous, m.from, h);
      }
      const g = m.groups;
      for (let i = 0; i + 1 < g.length; i += 2) {
        const group = g[i]!;
        const ballot = g[i + 1]!;
        if (!h.set.has(group)) this.name(group, m.from);
        h.set.set(group, ballot);
        const r = this.host.replica(group);
        if (!r?.grantsLeaseTo(m.from, ballot)) refused.push(group);
      }
    } else if (!h || h.epoch !== m.epoch) {
      this.host.send(m.from, [this.reply(m, [], true)]);
      return;
    }
    h.renewedAt = now;
    h.lapsed = false;
    const moved = this.moved.get(m.from);
    if (moved) {
      for (const g of moved) if (!refused.includes(g)) refused.push(g);
      this.moved.delete(m.from);
    }
    this.host.send(m.from, [this.reply(m, refused, false)]);
  }

  private reply(m: LeaseRenew, refused: number[], needSet: boolean): LeaseRenewReply {
    return {
      type: "leaseRenewReply",
      group: 0,
      inc: 0,
      from: this.host.nodeId,
      to: m.from,
      seq: m.seq,
      epoch: m.epoch,
      refused,
      needSet,
    };
  }

  /**
   * A new set replaced `previous`: once this message (the new set's first part) is applied, groups the old
   * set named and the new one does not lose their renewals; wake them so they notice. Done on the next tick
   * of the event loop, after the remaining parts of the set (same seq) have arrived.
   */
  private dropLater(previous: HeardFrom, peer: string, next: HeardFrom): void {
    this.rt.setImmediate(() => {
      for (const group of previous.set.keys()) {
        if (next.set.has(group)) continue;
        this.unname(group, peer);
        this.host.wake(group);
      }
    });
  }

  private name(group: number, peer: string): void {
    const list = this.namedBy.get(group);
    if (!list) this.namedBy.set(group, [peer]);
    else if (!list.includes(peer)) list.push(peer);
  }

  private unname(group: number, peer: string): void {
    const list = this.namedBy.get(group);
    if (!list) return;
    const i = list.indexOf(peer);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.namedBy.delete(group);
  }
}

function sameSet(a: Map<number, number>, b: Map<number, number> | undefined): boolean {
  if (!b || a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

function flatten(set: Map<number, number>): number[] {
  const out: number[] = [];
  for (const [g, b] of set) out.push(g, b);
  return out;
}
