import { admitAppend } from "./append-admission.ts";
import type { AdminOutcome, AppendOutcome } from "./append-outcome.ts";
import type { CoalescedLeases } from "./coalesced-leases.ts";
import { committedCsn, committedEntries, locateByCsn, readCommitted } from "./committed-reads.ts";
import type { CsnFloorSource } from "./csn-floor.ts";
import type { EffectSink, Role } from "./effects.ts";
import * as follower from "./follower.ts";
import type { GroupEntry } from "./group-entry.ts";
import type { LogView } from "./group-log.ts";
import * as leader from "./leader.ts";
import type { LogEntry, SessionTag } from "./log-entry.ts";
import type { LoopLag } from "./loop-lag.ts";
import { type ConfigChange, isMember } from "./member-config.ts";
import { messageProblem } from "./message-check.ts";
import type { Message } from "./messages.ts";
import type { DurableImage, ReplicaOptions } from "./options.ts";
import * as reconfirm from "./reconfirm.ts";
import * as removal from "./removal.ts";
import { ReplicaCore } from "./replica-core.ts";
import type { ReconfirmState } from "./replica-state.ts";
import type { BaseInfo, ConfigVersion, Csn, Lsn, MemberConfig, Millis, Pid, ReplicaId } from "./types.ts";
import { unpersistedBytes } from "./wal-reservations.ts";
import type { WalSpace } from "./wal-space.ts";

/** What `Replica.status()` shows: one replica's place in its group, for status pages, tests and checkers. */
export interface ReplicaStatus {
  readonly group: number;
  readonly self: ReplicaId;
  readonly role: Role;
  readonly halted: string | undefined;
  readonly promisedPid: Pid;
  readonly leaderPid: Pid;
  readonly leader: ReplicaId | undefined;
  readonly leaseValid: boolean;
  readonly committedEnd: Lsn;
  readonly end: Lsn;
  readonly durableEnd: Lsn;
  readonly base: Lsn;
  readonly config: MemberConfig;
  readonly pendingResults: number;
  readonly priority: number;
}

/**
 * One replica of one PALF group: pure, events in and effects out (etcd-raft's RawNode is the model). The host
 * calls `receive`, `tick`, `durable`, `append` and `endTurn` with its monotonic time; the replica answers
 * through its EffectSink. The host sees named methods and read-only views only; the state lives in a
 * core-internal ReplicaCore that the protocol modules (follower, leader, reconfirm) operate on.
 */
export class Replica {
  readonly group: number;
  readonly self: ReplicaId;
  /** The group's incarnation (a group deleted and created again gets a new one). */
  readonly inc: number;
  private readonly s: ReplicaCore;

  constructor(options: ReplicaOptions, sink: EffectSink, now: Millis, image?: DurableImage) {
    this.s = new ReplicaCore(options, sink, now, image);
    this.group = this.s.group;
    this.self = this.s.self;
    this.inc = this.s.inc;
    this.s.afterEvent();
  }

  // ---------------------------------------------------------------- events in (the dispatcher)

  /** A message from a peer (or from itself). Bad input is rejected with a reason and changes nothing. */
  receive(message: Message, now: Millis): void {
    const s = this.s;
    s.now = now;
    if (s.halted) return;
    const problem = messageProblem(message);
    if (problem) return s.reject(message, problem);
    if (message.group !== s.group || message.to !== s.self) return s.reject(message, "misaddressed");
    if (message.inc !== s.inc && !s.opts.unsafe.ignoreIncarnation)
      return s.reject(message, `incarnation ${message.inc} is not ${s.inc}`);
    switch (message.type) {
      case "vote":
        removal.tellIfRemoved(s, message);
        s.election.onRequest(message, now);
        break;
      case "notMember":
        removal.onNotMember(s, message);
        break;
      case "voteReply":
        s.election.onReply(message, now);
        break;
      case "abdicate":
        s.election.release(message.from, message.ballot, message.target, now);
        break;
      case "timeoutNow":
        if (isMember(s.config, s.self)) s.election.standNow(now, message.from, message.ballot);
        break;
      case "prepare":
        reconfirm.onPrepare(s, message);
        break;
      case "prepareReply":
        reconfirm.onPrepareReply(s, message);
        break;
      case "fetch":
        reconfirm.onFetch(s, message);
        break;
      case "fetchReply":
        reconfirm.onFetchReply(s, message);
        break;
      case "push":
        follower.onPush(s, message);
        break;
      case "commitInfo":
        follower.onCommitInfo(s, message);
        break;
      case "rebuild":
        follower.onRebuild(s, message);
        break;
      case "ack":
        leader.onAck(s, message);
        break;
      case "leaseRenew":
      case "leaseRenewReply":
        return s.reject(message, "a node-level lease message reached a replica");
    }
    s.afterEvent();
  }

  /** Deadlines: lease renewal and expiry, elections, reconfirm and retransmission timeouts. */
  tick(now: Millis): void {
    const s = this.s;
    s.now = now;
    if (s.halted) return;
    // The wake that brought us here is used up: always ask for the next one, even if it is the same time.
    s.lastWake = Number.NaN;
    s.election.tick(now);
    if (s.rc && s.role === "candidate" && s.rc.phase !== "startWorking" && now >= s.rc.deadline) {
      reconfirm.restart(s, "reconfirm timed out");
    }
    if (s.isServing()) leader.retransmit(s);
    s.afterEvent();
  }

  /** The host made every record up to `seq` durable. */
  durable(seq: number, now: Millis): void {
    const s = this.s;
    s.now = now;
    if (s.halted) return;
    s.gate.durable(seq);
    if (s.isServing()) leader.advanceCommit(s);
    s.afterEvent();
  }

  /** End of the host's loop turn: freeze the open group entry (feedback freeze) and flush commit info. */
  endTurn(now: Millis): void {
    const s = this.s;
    s.now = now;
    if (s.halted) return;
    if (s.role === "leader") leader.endTurn(s);
    s.afterEvent();
  }

  // ---------------------------------------------------------------- client and admin calls

  /**
   * Proposes one entry on the leader (admission: append-admission.ts): returns {lsn, csn} at once, before
   * replication; the explicit result (committed / failed) follows later through the sink, exactly once.
   */
  propose(
    payload: Uint8Array,
    now: Millis,
    options?: { refCsn?: Csn; session?: SessionTag; retry?: boolean },
  ): AppendOutcome {
    this.s.now = now;
    const out = admitAppend(this.s, payload, now, options);
    if (out.ok && out.duplicate !== true) this.s.afterEvent();
    return out;
  }

  /** Starts a membership change on the leader; its progress shows up as `config` events. */
  changeConfig(change: ConfigChange, now: Millis): AdminOutcome {
    this.s.now = now;
    const out = leader.changeConfig(this.s, change);
    this.s.afterEvent();
    return out;
  }

  /** Hands leadership to `target` once it has the whole log. */
  transferLeader(target: ReplicaId, now: Millis): AdminOutcome {
    this.s.now = now;
    const out = leader.transferLeader(this.s, target);
    this.s.afterEvent();
    return out;
  }

  /** Recycling: lets storage drop everything below `lsn` (rounded down to a group entry; at most committed). */
  advanceBase(lsn: Lsn, now: Millis): BaseInfo | undefined {
    const s = this.s;
    s.now = now;
    if (s.halted) return undefined;
    const target = Math.min(lsn, s.committedEnd);
    const at = target >= s.log.end ? s.log.end : s.log.containing(target)?.lsn;
    if (at === undefined || at <= s.log.base.lsn) return undefined;
    const base = s.log.advanceBase(at);
    if (base) s.persist({ kind: "base", base, reset: false }, true);
    s.afterEvent();
    return base;
  }

  /** The host could not write: the replica leaves service for good (a write error after an LSN was assigned). */
  fail(reason: string): void {
    if (this.s.opts.unsafe.reuseLsnAfterWriteError && this.s.role === "leader")
      return leader.rewindUnsynced(this.s);
    this.s.halt(`storage failure: ${reason}`);
  }

  /** The host cannot write for this replica (a failing or full disk): refuse appends, stand for no election. */
  setWritable(writable: boolean): void {
    this.s.writable = writable;
  }

  /** Changes this replica's election priority (lowered for a stopping node, a failing disk, a lagging replica). */
  setPriority(priority: number): void {
    this.s.election.priority = priority;
  }

  // ---------------------------------------------------------------- host services (set before the first event)

  /** The host renews leases for many groups at once (see CoalescedLeases). */
  useCoalescedLeases(source: CoalescedLeases): void {
    this.s.coalesced = source;
  }

  /** The host's loop turns may be slow: timeouts that wait for a round trip stretch with them (see LoopLag). */
  useLoopLag(source: LoopLag): void {
    this.s.loopLag = source;
  }

  /** CSNs stay above the host's GTS floor, and a new leader waits for a fresh one. */
  useCsnFloor(source: CsnFloorSource): void {
    this.s.csnFloor = source;
  }

  /** Entries reserve room in the host's WAL before they get an LSN (see WalSpace). */
  useWalSpace(space: WalSpace): void {
    this.s.walSpace = space;
  }

  /**
   * Lets the bodies of old entries live only in the host's storage: `load` reads one back by LSN. Entries
   * are evicted by `evictBodies` once durable here and committed, keeping the newest `keepBytes` in memory.
   */
  useColdStore(load: (lsn: Lsn) => GroupEntry | undefined): void {
    this.s.log.setColdLoader(load);
  }

  evictBodies(keepBytes: number): void {
    this.s.log.evictBodies(Math.min(this.s.gate.durableEnd, this.s.committedEnd) - keepBytes);
  }

  // ---------------------------------------------------------------- leases (the node's coalesced renewals)

  /** Holds a lease granted by a majority (it may still be waiting out its predecessor's). */
  get leaseHeld(): boolean {
    return this.s.election.leaseHeld;
  }

  /** The ballot of the lease this replica holds or asks for; renewals name it. */
  get leaseBallot(): number {
    return this.s.election.myBallot;
  }

  /** The lease this replica holds is valid at `now`. */
  leaseValid(now: Millis): boolean {
    return this.s.election.leaseValid(now);
  }

  /** Asks one member directly for a renewal of this replica's lease (it refused a coalesced renewal). */
  renewLeaseWith(member: ReplicaId, now: Millis): void {
    this.s.election.renewWith(member, now);
  }

  /** Member side: this replica holds a grant to `holder` for `ballot` (a coalesced renewal may extend it). */
  grantsLeaseTo(holder: ReplicaId, ballot: number): boolean {
    return this.s.election.hasGrant(holder, ballot);
  }

  // ---------------------------------------------------------------- read-only output

  get role(): Role {
    return this.s.role;
  }

  /** Why the replica left service for good, or undefined while it serves. */
  /** A member's committed config names this replica nowhere (see removal.ts); its host drops it. */
  get removed(): { readonly by: ReplicaId; readonly version: ConfigVersion } | undefined {
    return this.s.removed;
  }

  get halted(): string | undefined {
    return this.s.halted;
  }

  /** The highest proposal id this replica durably promised. */
  get promisedPid(): Pid {
    return this.s.promisedPid;
  }

  /** The proposal id this replica last led or campaigned with (0 before it ever did). */
  get myPid(): Pid {
    return this.s.myPid;
  }

  /** Who this replica believes leads the group (itself when it does). */
  get leaderHint(): ReplicaId | undefined {
    return this.s.leaderHint;
  }

  get committedEnd(): Lsn {
    return this.s.committedEnd;
  }

  /** The end of the log this replica has made durable. */
  get durableEnd(): Lsn {
    return this.s.gate.durableEnd;
  }

  /** The last pid of the durable log, and whether every record asked for is durable (for crash checks). */
  durability(): { readonly end: Lsn; readonly lastPid: Pid; readonly settled: boolean } {
    const g = this.s.gate;
    return { end: g.durableEnd, lastPid: g.durableLastPid, settled: g.settled };
  }

  /** The recycling base: everything below it lives only in storage's past (or nowhere). */
  get base(): BaseInfo {
    return this.s.log.base;
  }

  /** The log, read-only (entries past the commit point included: for checkers and the host's own bookkeeping). */
  get log(): LogView {
    return this.s.log;
  }

  /** The config in effect, which every protocol decision uses (see ReplicaCore.config). */
  get config(): MemberConfig {
    return this.s.config;
  }

  /** The latest config entry in the log, committed or not (what the host routes leases and rounds by). */
  get latestConfig(): MemberConfig {
    return this.s.log.config;
  }

  /** The candidate's reconfirmation (its pid and phase), undefined when not reconfirming. */
  get reconfirmation(): Readonly<Pick<ReconfirmState, "pid" | "phase">> | undefined {
    return this.s.rc;
  }

  /** The LSN the next appended entry would get (past the open group entry). */
  get nextLsn(): Lsn {
    return this.s.open?.nextLsn ?? this.s.log.end;
  }

  /** Log bytes reserved in the WAL and not yet asked to persist (the open group entry); see WalSpace. */
  unpersistedBytes(): number {
    return unpersistedBytes(this.s);
  }

  /** Leader: may assign CSNs (it holds a GTS floor fetched after its StartWorking committed). */
  floorReady(): boolean {
    return this.s.floorReady();
  }

  /** Leader: `peer` acked this leader's whole log as durable (a leadership handed to it loses nothing). */
  peerHasWholeLog(peer: ReplicaId): boolean {
    const p = this.s.progress.get(peer);
    return p !== undefined && p.matchEnd >= this.s.log.end;
  }

  /** Leader: the config its running membership change aims at, undefined when no change runs. */
  get pendingConfig(): MemberConfig | undefined {
    return this.s.configChange?.config;
  }

  /** How long a membership change may wait for an added replica to catch up before it fails. */
  get configChangeTimeoutMs(): number {
    return this.s.opts.configChangeTimeoutMs;
  }

  /** Leader: how far each peer's log is known to match its own (-1: not known yet), by peer id. */
  *peerMatchEnds(): Generator<readonly [ReplicaId, Lsn]> {
    for (const [peer, p] of this.s.progress) yield [peer, p.matchEnd];
  }

  /** Appends issued by this replica whose outcome is not known yet. */
  get unresolvedAppends(): number {
    return this.s.pending.size;
  }

  /** Leader with a lease valid now: may take appends and serve leader reads (the role alone is not enough). */
  servesAsLeader(now: Millis): boolean {
    return this.s.servesAsLeader(now);
  }

  // ---------------------------------------------------------------- reads (committed entries only)

  get committedCsn(): Csn {
    return committedCsn(this.s);
  }

  /** The committed entry starting at `lsn`; undefined if none starts there or it is not committed yet. */
  read(lsn: Lsn): LogEntry | undefined {
    return readCommitted(this.s, lsn);
  }

  /** Committed entries from `from` (an entry's LSN, or any LSN: starts at the first entry at or after it). */
  entries(from: Lsn, kinds: "data" | "all" = "data"): Generator<LogEntry> {
    return committedEntries(this.s, from, kinds);
  }

  /** First committed entry whose CSN is at least `csn`. */
  locateByCsn(csn: Csn): LogEntry | undefined {
    return locateByCsn(this.s, csn);
  }

  /** A snapshot for status pages, tests and checkers. */
  status(): ReplicaStatus {
    const s = this.s;
    return {
      group: s.group,
      self: s.self,
      role: s.role,
      halted: s.halted,
      promisedPid: s.promisedPid,
      leaderPid: s.isServing() ? s.myPid : 0,
      leader: s.role === "leader" ? s.self : s.leaderHint,
      leaseValid: s.election.leaseValid(s.now),
      committedEnd: s.committedEnd,
      end: s.log.end,
      durableEnd: s.gate.durableEnd,
      base: s.log.base.lsn,
      config: s.config,
      pendingResults: s.pending.size,
      priority: s.election.priority,
    };
  }
}

/** Test-only: the state behind a replica, for core tests that break it on purpose (not exported by the package). */
export function internalsOf(r: Replica): ReplicaCore {
  return (r as unknown as { s: ReplicaCore }).s;
}
