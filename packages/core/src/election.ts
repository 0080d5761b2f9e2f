import type { CoalescedLeases } from "./coalesced-leases.ts";
import { type LoopLag, roundTripMs } from "./loop-lag.ts";
import type { Abdicate, VoteReply, VoteRequest } from "./messages.ts";
import type { Prng } from "./prng.ts";
import type { MemberConfig, Millis, ReplicaId } from "./types.ts";
import { compareVersion } from "./types.ts";
import { safe, type UnsafeSwitches } from "./unsafe-switches.ts";

/** Lease timing; OceanBase runs a 4 s lease renewed every 250-500 ms. */
export interface LeaseOptions {
  readonly leaseMs: number;
  readonly renewMs: number;
  /** Bound on clock rate error between any two nodes, as a ratio (0.01 = 1%). */
  readonly maxDrift: number;
  /** Taken off every lease on top of the drift allowance. */
  readonly leaseGuardMs: number;
  /** How long a member collects competing requests before granting the highest priority one. */
  readonly voteWindowMs: number;
  /** Random extra delay before standing for election, so candidates rarely collide. */
  readonly electionJitterMs: number;
  /**
   * Renewals travel in the host's per-node-pair messages (see CoalescedLeases) instead of one vote per
   * group per interval; the per-group path stays for elections and for members that refused.
   */
  readonly coalesced?: boolean;
}

/** What the election needs from its replica. */
export interface ElectionHost {
  readonly self: ReplicaId;
  readonly group: number;
  /** The host's coalesced renewals, when it runs them. */
  coalesced(): CoalescedLeases | undefined;
  /** How slow the host's loop turns are (a campaign waits that much longer for its replies). */
  loopLag(): LoopLag | undefined;
  config(): MemberConfig;
  send(
    message:
      | Omit<VoteRequest, "group" | "inc">
      | Omit<VoteReply, "group" | "inc">
      | Omit<Abdicate, "group" | "inc">,
    durable: boolean,
  ): void;
  /** Persists the highest ballot (a grant must not leave before it is durable). */
  persistBallot(): void;
  onLeaseWon(now: Millis): void;
  onLeaseLost(now: Millis): void;
  /** May this replica stand for election now (a voting member, not halted, not already holding a role)? */
  mayStand(): boolean;
}

interface Grant {
  to: ReplicaId;
  ballot: number;
  expires: Millis;
}

/** computeLeaseEnd's scratch buffers: descending grant expiries, and whether each rests on the hub's acks (shared: core runs on one thread). */
const EXPIRIES = new Float64Array(16);
const EXPIRY_BY_HOST = new Uint8Array(16);

/**
 * Priority + lease election, Basic-Paxos style: members grant a lease for a ballot; a majority of grants is a
 * lease. A member never grants a new leader while a lease it granted to another is unexpired, and a lease
 * counted by its holder lasts L(1 - 2 drift) - guard from when the request was sent, so leases never overlap
 * in real time while clocks drift within bounds.
 */
export class Election {
  highestBallot: number;
  private grant: Grant | undefined;
  private silentUntil: Millis;
  private window: { closesAt: Millis; requests: VoteRequest[] } | undefined;
  private preferred: { id: ReplicaId; until: Millis } | undefined;
  /** Own candidacy / leadership. */
  private ballot = 0;
  private seq = 0;
  /** When grantFrom last asked its replica (one request per renewal interval). */
  private askedJoinerAt = Number.NEGATIVE_INFINITY;
  private sentAt = new Map<number, Millis>();
  private grants = new Map<ReplicaId, Millis>();
  private held = false;
  private leaseEndCache: Millis | undefined;
  /** The cached lease end is a coalesced ack's (the host wakes us when it lapses), not a per-group grant's. */
  private leaseEndByHost = false;
  private leaseEndFor: MemberConfig | undefined;
  private leaseEndVersion = 0;
  /** The host's coverageVersion when the cached lease end was computed. */
  private leaseEndCoverage = 0;
  /** A campaign not yet won: it ends (and its self-grant is released) at this time. */
  private campaignEndsAt = Number.POSITIVE_INFINITY;
  private nextRenewAt = Number.POSITIVE_INFINITY;
  private electionDueAt: Millis;
  priority: number;

  constructor(
    private readonly host: ElectionHost,
    private readonly opts: LeaseOptions,
    private readonly prng: Prng,
    highestBallot: number,
    priority: number,
    now: Millis,
    private readonly unsafe: Partial<UnsafeSwitches> = safe,
  ) {
    this.highestBallot = highestBallot;
    this.priority = priority;
    // A restarted, newly added or recreated replica grants nothing for one lease: it may have granted a
    // lease before it lost its memory.
    this.silentUntil = now + (unsafe.grantAfterRestart ? 0 : opts.leaseMs);
    this.electionDueAt = this.silentUntil + this.jitter();
  }

  get leaseHeld(): boolean {
    return this.held;
  }
  get myBallot(): number {
    return this.ballot;
  }
  /** Whom this replica currently grants its lease to, if anyone (for leader hints). */
  grantedTo(now: Millis): ReplicaId | undefined {
    return this.grant && now < this.grantExpiry(this.grant) ? this.grant.to : undefined;
  }

  /** End of the lease this replica holds: the quorum-th latest grant expiry among current members. */
  leaseEnd(): Millis {
    if (!this.held) return Number.NEGATIVE_INFINITY;
    const cfg = this.host.config();
    // Checked on every append: recompute only when a grant or the config changed.
    const version = this.host.coalesced()?.version ?? 0;
    if (this.leaseEndFor === cfg && this.leaseEndVersion === version && this.leaseEndCache !== undefined) {
      return this.leaseEndCache;
    }
    this.leaseEndFor = cfg;
    this.leaseEndVersion = version;
    this.leaseEndCoverage = this.host.coalesced()?.coverageVersion ?? 0;
    this.leaseEndCache = this.computeLeaseEnd(cfg);
    return this.leaseEndCache;
  }

  private computeLeaseEnd(cfg: MemberConfig): Millis {
    const members = cfg.members;
    const c = this.host.coalesced();
    // The q-th latest grant expiry, sorted in place into reused buffers (no allocation per recompute), with
    // whether that expiry rests on the node's coalesced acks (then the hub, not a timer, watches it).
    const n = members.length;
    const expiries = n <= EXPIRIES.length ? EXPIRIES : new Float64Array(n);
    const byHost = n <= EXPIRY_BY_HOST.length ? EXPIRY_BY_HOST : new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const m = members[i]!;
      const own = this.grants.get(m) ?? Number.NEGATIVE_INFINITY;
      const acked = c ? c.memberGrantUntil(this.host.group, m, this.ballot) : Number.NEGATIVE_INFINITY;
      const e = acked > own ? acked : own;
      const h = acked > own ? 1 : 0;
      let j = i;
      for (; j > 0 && expiries[j - 1]! < e; j--) {
        expiries[j] = expiries[j - 1]!;
        byHost[j] = byHost[j - 1]!;
      }
      expiries[j] = e;
      byHost[j] = h;
    }
    const q = Math.floor(cfg.replicaNum / 2) + 1;
    if (q > n) {
      this.leaseEndByHost = false;
      return Number.NEGATIVE_INFINITY;
    }
    this.leaseEndByHost = byHost[q - 1] === 1;
    return expiries[q - 1]!;
  }

  /** Checked at every use: the role alone is not enough. */
  leaseValid(now: Millis): boolean {
    if (!this.held) return false;
    // Checked on every append. Since the cached end was computed, our own grants did not change (that clears
    // the cache) and the host's answers only moved later unless its coverageVersion moved: an end still
    // ahead of now holds, whatever newer acks added. Otherwise, recompute.
    const cached = this.leaseEndCache;
    if (
      cached !== undefined &&
      now < cached &&
      this.leaseEndFor === this.host.config() &&
      this.leaseEndCoverage === (this.host.coalesced()?.coverageVersion ?? 0)
    ) {
      return true;
    }
    return now < this.leaseEnd();
  }

  nextDeadline(): Millis {
    // Coalesced renewals are driven by the host's per-node timer, not by a deadline per group.
    const renewAt = this.opts.coalesced ? Number.POSITIVE_INFINITY : this.nextRenewAt;
    let t = this.held
      ? Math.min(renewAt, this.leaseEndDeadline())
      : Math.min(this.electionDueAt, this.campaignEndsAt);
    if (this.window) t = Math.min(t, this.window.closesAt);
    return t;
  }

  /**
   * When to look at the lease end: a lease resting on a coalesced ack needs no timer of its own, since the
   * host wakes every group an ack covers when that ack lapses or stops covering it (CoalescedLeases), and
   * renewals would otherwise move such a deadline every interval (a tick per led group per lease at idle).
   * Only a wake: serving checks `leaseValid(now)` at every use whatever the timers do.
   */
  private leaseEndDeadline(): Millis {
    const end = this.leaseEnd();
    return this.leaseEndByHost && this.host.coalesced() ? Number.POSITIVE_INFINITY : end;
  }

  tick(now: Millis): void {
    if (this.window && now >= this.window.closesAt) this.closeWindow(now);
    if (this.held) {
      if (now >= this.leaseEnd()) {
        this.drop();
        this.electionDueAt = now + this.jitter();
        this.host.onLeaseLost(now);
      } else if (now >= this.nextRenewAt && !this.opts.coalesced) this.request(now, true);
    } else if (now >= this.campaignEndsAt) {
      this.abandonCampaign(now);
    } else if (now >= this.electionDueAt || this.electionDueAt === Number.POSITIVE_INFINITY) {
      const g = this.grant;
      const c = this.host.coalesced();
      const heard = c?.leaderHeardUntil(this.host.group) ?? Number.NEGATIVE_INFINITY;
      const quietUntil = Math.max(
        g && g.to !== this.host.self ? this.grantExpiry(g) : Number.NEGATIVE_INFINITY,
        heard,
      );
      if (now < quietUntil) {
        // A leader's lease is being renewed: nothing to do before it could run out. While a leader node's
        // coalesced renewals name this group, its host wakes us when they stop, so no timer runs per group.
        this.electionDueAt = now < heard ? Number.POSITIVE_INFINITY : quietUntil + this.jitter();
        return;
      }
      if (this.electionDueAt === Number.POSITIVE_INFINITY) {
        // Woken by the host: the renewals stopped. Stand after the usual jitter.
        this.electionDueAt = now + this.jitter();
        return;
      }
      this.electionDueAt = now + this.opts.leaseMs / 2 + this.jitter();
      if (this.mayCampaign(now) && !this.loopTooSlowToLead()) this.campaign(now);
    }
  }

  /** Member side: do we hold a grant to `to` for `ballot` (a coalesced renewal may extend it)? */
  hasGrant(to: ReplicaId, ballot: number): boolean {
    return this.grant !== undefined && this.grant.to === to && this.grant.ballot === ballot;
  }

  /** When a grant we gave really ends: its own expiry, or later if the holder's coalesced renewals extend it. */
  private grantExpiry(g: Grant): Millis {
    const c = this.host.coalesced();
    return c ? Math.max(g.expires, c.grantRenewedUntil(this.host.group, g.to, g.ballot)) : g.expires;
  }

  /** Until when `member`'s grant counts toward our lease: per-group replies or coalesced acks. */
  private memberGrant(member: ReplicaId): Millis {
    const own = this.grants.get(member) ?? Number.NEGATIVE_INFINITY;
    const c = this.host.coalesced();
    return c ? Math.max(own, c.memberGrantUntil(this.host.group, member, this.ballot)) : own;
  }

  /**
   * Leader adding a voting member: from the config switch on, the lease needs that replica's grant too (the
   * dead member being replaced still counts in the quorum), so the switch waits until we hold one that lasts
   * at least another renewal interval; asks for it (once per interval) meanwhile. A new replica grants nothing
   * for a lease period after it was created, so this wait can be that long.
   */
  grantFrom(joiner: ReplicaId, now: Millis): boolean {
    if (!this.held) return false;
    if ((this.grants.get(joiner) ?? Number.NEGATIVE_INFINITY) > now + this.opts.renewMs) return true;
    if (now >= this.askedJoinerAt + this.opts.renewMs) {
      this.askedJoinerAt = now;
      this.request(now, true, joiner);
    }
    return false;
  }

  /** A coalesced renewal was refused by `member`: ask it for this group's grant with a per-group vote. */
  renewWith(member: ReplicaId, now: Millis): void {
    if (this.held) this.request(now, true, member);
  }

  /** Leader transfer: the target stands at once. */
  standNow(now: Millis, releasedBy: ReplicaId, ballot: number): void {
    this.release(releasedBy, ballot, undefined, now);
    if (!this.held && this.mayCampaign(now)) this.campaign(now);
  }

  /** Gives up the lease (transfer or step down); the caller changes the role. */
  drop(): void {
    this.held = false;
    // Forget what we asked: a grant answering a request sent before the drop must not win the lease back (a
    // transferring leader's members release that grant right after answering, and grant the target instead).
    this.sentAt.clear();
    this.campaignEndsAt = Number.POSITIVE_INFINITY;
    this.grants.clear();
    this.leaseEndCache = undefined;
    this.nextRenewAt = Number.POSITIVE_INFINITY;
  }

  /** The holder of a grant we gave abdicated (in favour of `target`), or released a lost campaign (target = itself). */
  release(from: ReplicaId, ballot: number, target: ReplicaId | undefined, now: Millis): void {
    if (this.grant && this.grant.to === from && this.grant.ballot === ballot) {
      this.grant = undefined;
      this.electionDueAt = now + this.jitter();
    }
    if (target !== undefined && target !== from)
      this.preferred = { id: target, until: now + this.opts.leaseMs };
  }

  /** After hearing from a leader, do not stand before its lease could have run out. */
  heardFromLeader(now: Millis): void {
    this.electionDueAt = Math.max(this.electionDueAt, now + this.opts.leaseMs + this.jitter());
  }

  /**
   * Our loop turns are so slow that a round trip would eat half a lease: a lease won now would be mostly gone
   * before its replies were read, and the campaign's messages would slow every turn further (a storm). Try
   * again at the next election deadline, when the backlog may have drained. Standing down is always safe.
   */
  private loopTooSlowToLead(): boolean {
    return roundTripMs(0, this.host.loopLag()) > this.opts.leaseMs / 2;
  }

  private mayCampaign(now: Millis): boolean {
    // A negative priority (a node that is stopping) never stands; it still votes.
    if (now < this.silentUntil || this.priority < 0 || !this.host.mayStand()) return false;
    return !(this.grant && this.grant.to !== this.host.self && now < this.grantExpiry(this.grant));
  }

  /** Random delay before standing; replicas with a positive priority go in the first half, the rest after. */
  private jitter(): Millis {
    const j = this.opts.electionJitterMs;
    return this.prng.next() * j + (this.priority > 0 ? 0 : j);
  }

  private campaign(now: Millis): void {
    this.ballot = this.highestBallot + 1;
    this.highestBallot = this.ballot;
    this.grants.clear();
    this.leaseEndCache = undefined;
    this.campaignEndsAt = now + roundTripMs(this.opts.voteWindowMs * 4, this.host.loopLag());
    this.request(now, false);
  }

  /**
   * A campaign that did not win in time gives back its own vote, or every member holding a self-grant would
   * block the others for a whole lease (split votes forever). Safe: we stop counting our own grant too, and
   * late replies for this ballot are ignored.
   */
  private abandonCampaign(now: Millis): void {
    this.campaignEndsAt = Number.POSITIVE_INFINITY;
    // Members that did grant us hold that grant for a lease and would block everyone else (split votes among
    // 4 or 5 members last a lease each): give their grants back too. Abdicate with ourselves as target = release.
    for (const m of this.grants.keys()) {
      if (m === this.host.self) continue;
      this.host.send(
        { type: "abdicate", from: this.host.self, to: m, ballot: this.ballot, target: this.host.self },
        false,
      );
    }
    this.grants.clear();
    this.leaseEndCache = undefined;
    this.sentAt.clear();
    if (this.grant && this.grant.to === this.host.self && this.grant.ballot === this.ballot)
      this.grant = undefined;
    // Contenders retry at random points spread wider than a campaign, so their windows stop colliding.
    this.electionDueAt = Math.min(
      this.electionDueAt,
      now + this.jitter() + this.prng.next() * this.opts.voteWindowMs * 4,
    );
  }

  private request(now: Millis, renew: boolean, only?: ReplicaId): void {
    const seq = ++this.seq;
    this.sentAt.set(seq, now);
    this.sentAt.delete(seq - 64);
    this.nextRenewAt = renew || this.held ? now + this.opts.renewMs : Number.POSITIVE_INFINITY;
    const cfg = this.host.config();
    // `only`: a member that refused a coalesced renewal, or a replica about to join (grantFrom).
    for (const to of only !== undefined ? [only] : cfg.members) {
      this.host.send(
        {
          type: "vote",
          from: this.host.self,
          to,
          ballot: this.ballot,
          priority: this.priority,
          seq,
          renew,
          cfg: cfg.version,
        },
        false,
      );
    }
  }

  onRequest(req: VoteRequest, now: Millis): void {
    if (now < this.silentUntil) return;
    const cfg = this.host.config();
    if (!cfg.members.includes(req.from)) return this.reply(req, false, false);
    const g = this.grant;
    const busy = g !== undefined && g.to !== req.from && now < this.grantExpiry(g);
    if (req.renew && g && g.to === req.from && g.ballot === req.ballot) {
      g.expires = Math.max(g.expires, now + this.opts.leaseMs);
      return this.reply(req, true, true);
    }
    const stale = compareVersion(req.cfg, cfg.version) < 0 && !this.unsafe.grantIgnoresConfigVersion;
    if (busy || req.ballot < this.highestBallot || stale) {
      if (req.renew) this.heardFromLeader(now);
      return this.reply(req, false, false);
    }
    if (req.renew) {
      // A sitting leader whose grant lapsed here (we restarted or it expired): no contest to wait for.
      return this.grantTo(req, now);
    }
    if (!this.window) this.window = { closesAt: now + this.opts.voteWindowMs, requests: [] };
    this.window.requests.push(req);
  }

  private closeWindow(now: Millis): void {
    const requests = this.window!.requests;
    this.window = undefined;
    const preferred = this.preferred && now < this.preferred.until ? this.preferred.id : undefined;
    const rank = (r: VoteRequest) => [r.from === preferred ? 1 : 0, r.priority, r.ballot] as const;
    let best: VoteRequest | undefined;
    for (const r of requests) {
      if (!best) best = r;
      else {
        const a = rank(r);
        const b = rank(best);
        if (
          a[0] !== b[0]
            ? a[0] > b[0]
            : a[1] !== b[1]
              ? a[1] > b[1]
              : a[2] !== b[2]
                ? a[2] > b[2]
                : r.from < best.from
        ) {
          best = r;
        }
      }
    }
    const g = this.grant;
    const busy = best !== undefined && g !== undefined && g.to !== best.from && now < this.grantExpiry(g);
    for (const r of requests) {
      if (r === best && !busy) this.grantTo(r, now);
      else this.reply(r, false, false);
    }
    for (const r of requests) this.highestBallot = Math.max(this.highestBallot, r.ballot);
  }

  private grantTo(req: VoteRequest, now: Millis): void {
    this.highestBallot = Math.max(this.highestBallot, req.ballot);
    this.grant = { to: req.from, ballot: req.ballot, expires: now + this.opts.leaseMs };
    this.host.coalesced()?.grantMoved(this.host.group, req.from);
    // Finite again: whoever we granted may never lead, and then no host would wake us.
    this.electionDueAt = this.grant.expires + this.jitter();
    this.host.persistBallot();
    this.reply(req, true, true);
  }

  private reply(req: VoteRequest, granted: boolean, durable: boolean): void {
    this.host.send(
      {
        type: "voteReply",
        from: this.host.self,
        to: req.from,
        ballot: req.ballot,
        seq: req.seq,
        granted,
        highestBallot: this.highestBallot,
        cfg: this.host.config().version,
      },
      durable,
    );
  }

  /** A grant counts for L(1 - 2 drift) - guard from when its request was sent (the switches are test-only faults). */
  private leaseExpiry(sent: Millis, now: Millis): Millis {
    const from = this.unsafe.leaseFromReply ? now : sent;
    if (this.unsafe.leaseWithoutDriftGuard) return from + this.opts.leaseMs;
    return from + this.opts.leaseMs * (1 - 2 * this.opts.maxDrift) - this.opts.leaseGuardMs;
  }

  onReply(rep: VoteReply, now: Millis): void {
    if (!rep.granted) {
      if (rep.highestBallot > this.highestBallot) this.highestBallot = rep.highestBallot;
      return;
    }
    if (rep.ballot !== this.ballot) return;
    const sent = this.sentAt.get(rep.seq);
    if (sent === undefined) return;
    const expires = this.leaseExpiry(sent, now);
    if (expires <= now) return;
    this.grants.set(rep.from, Math.max(this.grants.get(rep.from) ?? 0, expires));
    this.leaseEndCache = undefined;
    if (!this.held) {
      const cfg = this.host.config();
      const live = cfg.members.filter((m) => this.memberGrant(m) > now).length;
      if (live >= Math.floor(cfg.replicaNum / 2) + 1 && this.host.mayStand()) {
        this.held = true;
        this.campaignEndsAt = Number.POSITIVE_INFINITY;
        this.nextRenewAt = now + this.opts.renewMs;
        this.host.onLeaseWon(now);
      }
    }
  }
}
