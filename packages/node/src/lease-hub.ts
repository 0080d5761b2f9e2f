import type { LeaseRenew, LeaseRenewReply, Message, Replica } from "@palf/core";

/** What the hub needs from its node. */
export interface LeaseHubHost {
  readonly nodeId: string;
  /** Every local replica. */
  replicas(): Iterable<Replica>;
  replica(group: number): Replica | undefined;
  /** A replica's effects changed outside a loop turn: run a turn for it. */
  touch(group: number): void;
  send(to: string, messages: Message[]): void;
}

interface SentRenewal {
  readonly sentAt: number;
  /** Per destination node: flat [group, ballot, ...] pairs sent to it. */
  readonly pairs: Map<string, number[]>;
}

/** Pairs per LeaseRenew message, so one message stays well below a frame (about 9 bytes a number). */
const MAX_PAIRS_PER_MESSAGE = 20_000;

/**
 * Coalesced liveness: once per renew interval, one LeaseRenew per peer node covers every group this node
 * leads with that peer as a member, and the peer extends those grants in one tight loop, without a message,
 * a tick or a wake per group. It only renews grants that exist for the same ballot; anything else is refused
 * and that group falls back to the per-group vote path, which handles restarts and new elections.
 */
export class LeaseHub {
  private seq = 0;
  private readonly sent = new Map<number, SentRenewal>();
  private timer: NodeJS.Timeout | undefined;
  /** "group/member" -> when that member was last sent a per-group vote after refusing (at most once a lease). */
  private readonly refusedAt = new Map<string, number>();
  readonly stats = { renewalsSent: 0, pairsSent: 0, pairsRenewed: 0, pairsRefused: 0 };

  constructor(
    private readonly host: LeaseHubHost,
    private readonly renewMs: number,
    private readonly leaseMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.renewAll(performance.now()), this.renewMs);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Leader side: one renewal per peer for every group whose lease we hold. */
  renewAll(now: number): void {
    const seq = ++this.seq;
    const pairs = new Map<string, number[]>();
    for (const r of this.host.replicas()) {
      if (!r.election.leaseHeld) continue;
      const ballot = r.election.myBallot;
      for (const m of r.log.config.members) {
        if (m === this.host.nodeId) {
          // Our own grant renews locally, at the same instant as the request leaves.
          if (r.election.grantRenewal(m, ballot, now)) r.election.renewalGranted(m, now, now);
          continue;
        }
        let list = pairs.get(m);
        if (!list) {
          list = [];
          pairs.set(m, list);
        }
        list.push(r.group, ballot);
      }
    }
    this.sent.set(seq, { sentAt: now, pairs });
    this.sent.delete(seq - 32);
    for (const [to, list] of pairs) {
      const messages: Message[] = [];
      for (let i = 0; i < list.length; i += MAX_PAIRS_PER_MESSAGE * 2) {
        const groups = list.slice(i, i + MAX_PAIRS_PER_MESSAGE * 2);
        messages.push({ type: "leaseRenew", group: 0, inc: 0, from: this.host.nodeId, to, seq, groups });
      }
      this.stats.renewalsSent++;
      this.stats.pairsSent += list.length / 2;
      this.host.send(to, messages);
    }
  }

  /** Member side: extend every grant the renewal names, refuse the rest, answer once. */
  onRenew(m: LeaseRenew, now: number): void {
    const refused: number[] = [];
    const g = m.groups;
    for (let i = 0; i + 1 < g.length; i += 2) {
      const r = this.host.replica(g[i]!);
      if (r?.election.grantRenewal(m.from, g[i + 1]!, now)) this.stats.pairsRenewed++;
      else {
        refused.push(g[i]!);
        this.stats.pairsRefused++;
      }
    }
    const reply: LeaseRenewReply = {
      type: "leaseRenewReply",
      group: 0,
      inc: 0,
      from: this.host.nodeId,
      to: m.from,
      seq: m.seq,
      refused,
    };
    this.host.send(m.from, [reply]);
  }

  /** Leader side: count the renewed grants; refused groups renew per group right away. */
  onReply(m: LeaseRenewReply, now: number): void {
    const sent = this.sent.get(m.seq);
    const pairs = sent?.pairs.get(m.from);
    if (!sent || !pairs) return;
    const refused = new Set(m.refused);
    for (let i = 0; i + 1 < pairs.length; i += 2) {
      const group = pairs[i]!;
      const r = this.host.replica(group);
      if (!r || r.election.myBallot !== pairs[i + 1]) continue;
      if (refused.has(group)) {
        // It granted someone else or saw a higher ballot. It still heard us (so it does not stand for
        // election); a per-group vote, which can grant anew, goes at most once a lease per member.
        const key = `${group}/${m.from}`;
        const last = this.refusedAt.get(key);
        if (last === undefined || now - last >= this.leaseMs) {
          this.refusedAt.set(key, now);
          r.election.renewWith(m.from, now);
          this.host.touch(group);
        }
      } else r.election.renewalGranted(m.from, sent.sentAt, now);
    }
    // Each renewal is counted once per member.
    sent.pairs.delete(m.from);
  }
}
