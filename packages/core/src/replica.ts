import type { CoalescedLeases } from "./coalesced-leases.ts";
import type { CsnFloorSource } from "./csn-floor.ts";
import { DurableGate } from "./durable-gate.ts";
import type { EffectSink, PersistRecord, Role } from "./effects.ts";
import { Election } from "./election.ts";
import * as follower from "./follower.ts";
import { entriesOf, entryAt, type GroupEntry, GroupFlag } from "./group-entry.ts";
import { GroupLog } from "./group-log.ts";
import * as leader from "./leader.ts";
import { EntryKind, type LogEntry, type SessionTag } from "./log-entry.ts";
import { type ConfigChange, isMember, quorum } from "./member-config.ts";
import { messageProblem } from "./message-check.ts";
import type { Message } from "./messages.ts";
import type { OpenGroupEntry } from "./open-group-entry.ts";
import type { DurableImage, ReplicaOptions, ResolvedOptions } from "./options.ts";
import { resolveOptions } from "./options.ts";
import { PendingResults } from "./pending-results.ts";
import { Prng } from "./prng.ts";
import * as reconfirm from "./reconfirm.ts";
import { initialRole, nextRole, type RoleEvent, type RoleSnapshot, roleOf } from "./role-machine.ts";
import { SessionTable } from "./session-table.ts";
import type { BaseInfo, Csn, Lsn, MemberConfig, Millis, Pid, ReplicaId } from "./types.ts";
import { appendBytes, type WalSpace } from "./wal-space.ts";

/** What `append` answers at once: the entry's place, or why it was not taken. */
export type AppendOutcome =
  | { readonly ok: true; readonly lsn: Lsn; readonly csn: Csn; readonly duplicate?: boolean }
  | { readonly ok: false; readonly code: AppendError; readonly leader?: ReplicaId; readonly reason?: string };

export type AppendError =
  | "NOT_LEADER"
  | "BUSY"
  | "BACKPRESSURE"
  | "TOO_LARGE"
  | "BAD_INPUT"
  | "HALTED"
  | "NOT_WRITABLE"
  | "INDETERMINATE";

/** An append refused for lack of room in the WAL: back-pressure the client retries (recycling frees room). */
const NO_WAL_ROOM: AppendOutcome = {
  ok: false,
  code: "BACKPRESSURE",
  reason: "no room in the WAL (disk budget): retry once recycling frees space",
};

export type AdminOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: string; readonly reason: string };

/** Per-peer replication state kept by a leader. */
export interface Progress {
  /** Next LSN to send (everything below was sent). */
  nextLsn: Lsn;
  /** Highest end the peer acked as matching our log and durable; -1 until it has. */
  matchEnd: Lsn;
  /** Lowest point a refusal told us to resend from. */
  floor: Lsn;
  ackCommitted: Lsn;
  lastSentAt: Millis;
}

/** Leader-side state of an ongoing membership change. */
export interface PendingConfigChange {
  readonly config: MemberConfig;
  readonly target: ReplicaId | undefined;
  readonly deadline: Millis;
  /** Appends wait while the barrier runs (earlier entries committing, then the config entry). */
  barrier: boolean;
  appendedEnd: Lsn | undefined;
}

/**
 * One replica of one PALF group: pure, events in and effects out. The host calls `receive`, `tick`,
 * `durable`, `append` and `endTurn` with its monotonic time; the replica answers through its EffectSink.
 * Fields are visible to the protocol modules of this package (follower, leader, reconfirm); the package
 * exports only the methods below them.
 */
export class Replica {
  readonly opts: ResolvedOptions;
  readonly group: number;
  readonly self: ReplicaId;
  readonly inc: number;
  readonly log: GroupLog;
  readonly gate: DurableGate;
  readonly election: Election;
  readonly pending: PendingResults;
  readonly sessions: SessionTable;
  roleSnap: RoleSnapshot = initialRole();
  role: Role = "follower";
  promisedPid: Pid;
  committedEnd: Lsn;
  /** Follower: the pid its log prefix up to `checkedEnd` was last verified against. */
  checkedPid: Pid = 0;
  checkedEnd: Lsn = -1;
  leaderHint: ReplicaId | undefined;
  halted: string | undefined;
  writable = true;
  now: Millis;
  // Leader and candidate state.
  myPid: Pid = 0;
  open: OpenGroupEntry | undefined;
  /** Size hint for the next open group entry's buffer (the last one's size, plus a margin). */
  lastGroupBytes = 0;
  progress = new Map<ReplicaId, Progress>();
  startWorkingEnd: Lsn = Number.POSITIVE_INFINITY;
  lastPushedCommitted: Lsn = 0;
  configChange: PendingConfigChange | undefined;
  transfer: { target: ReplicaId; deadline: Millis } | undefined;
  rc: reconfirm.ReconfirmState | undefined;
  /** Highest pid seen refused by anyone; the next prepare goes above it. */
  highestPidSeen: Pid;
  private lastWake = Number.NaN;
  private coalesced: CoalescedLeases | undefined;
  private csnFloor: CsnFloorSource | undefined;
  /** Room in the host's WAL, reserved before an LSN is assigned (see WalSpace); none: no disk budget. */
  walSpace: WalSpace | undefined;
  /** Leader: appends wait until the floor comes from a GTS request sent after this one (see CsnFloorSource). */
  private floorAfterFetch = 0;

  constructor(
    options: ReplicaOptions,
    readonly sink: EffectSink,
    now: Millis,
    image?: DurableImage,
  ) {
    this.opts = resolveOptions(options);
    this.group = options.group;
    this.self = options.self;
    this.inc = this.opts.inc;
    this.now = now;
    const base: BaseInfo = image?.base ?? { lsn: 0, pid: 0, accum: 0, csn: 0, config: options.initialConfig };
    this.log = new GroupLog(base);
    this.sessions = new SessionTable(this.opts.maxSessions);
    for (const ge of image?.entries ?? []) this.appendToLog(ge);
    this.promisedPid = image?.meta.promisedPid ?? 0;
    this.highestPidSeen = this.promisedPid;
    this.committedEnd = base.lsn;
    this.gate = new DurableGate(this.group, sink, this.log.end, this.log.lastPid, this.opts.unsafe);
    this.pending = new PendingResults(this.group, sink, this.opts.unsafe.unknownAsFailed === true);
    this.election = new Election(
      {
        self: this.self,
        group: this.group,
        coalesced: () => this.coalesced,
        config: () => this.config,
        send: (m, durable) => {
          const msg = { ...m, group: this.group, inc: this.inc } as Message;
          if (durable) this.gate.sendWhenDurable(msg);
          else this.sink.send(msg);
        },
        persistBallot: () => this.persistMeta(),
        onLeaseWon: (t) => this.onLeaseWon(t),
        onLeaseLost: (t) => this.stepDown(t, "lease lost"),
        mayStand: () =>
          !this.halted &&
          this.writable &&
          isMember(this.config, this.self) &&
          (this.role === "follower" || this.role === "pendingFollower"),
      },
      this.opts.lease,
      new Prng(this.opts.seed),
      image?.meta.highestBallot ?? 0,
      this.opts.priority,
      now,
      this.opts.unsafe,
    );
    this.afterEvent();
  }

  // ---------------------------------------------------------------- events in

  /** A message from a peer (or from itself). Bad input is rejected with a reason and changes nothing. */
  receive(message: Message, now: Millis): void {
    this.now = now;
    if (this.halted) return;
    const problem = messageProblem(message);
    if (problem) return this.reject(message, problem);
    if (message.group !== this.group || message.to !== this.self) return this.reject(message, "misaddressed");
    if (message.inc !== this.inc && !this.opts.unsafe.ignoreIncarnation)
      return this.reject(message, `incarnation ${message.inc} is not ${this.inc}`);
    switch (message.type) {
      case "vote":
        this.election.onRequest(message, now);
        break;
      case "voteReply":
        this.election.onReply(message, now);
        break;
      case "abdicate":
        this.election.release(message.from, message.ballot, message.target, now);
        break;
      case "timeoutNow":
        if (isMember(this.config, this.self)) this.election.standNow(now, message.from, message.ballot);
        break;
      case "prepare":
        reconfirm.onPrepare(this, message);
        break;
      case "prepareReply":
        reconfirm.onPrepareReply(this, message);
        break;
      case "fetch":
        reconfirm.onFetch(this, message);
        break;
      case "fetchReply":
        reconfirm.onFetchReply(this, message);
        break;
      case "push":
        follower.onPush(this, message);
        break;
      case "commitInfo":
        follower.onCommitInfo(this, message);
        break;
      case "rebuild":
        follower.onRebuild(this, message);
        break;
      case "ack":
        leader.onAck(this, message);
        break;
      case "leaseRenew":
      case "leaseRenewReply":
        return this.reject(message, "a node-level lease message reached a replica");
    }
    this.afterEvent();
  }

  /** Deadlines: lease renewal and expiry, elections, reconfirm and retransmission timeouts. */
  tick(now: Millis): void {
    this.now = now;
    if (this.halted) return;
    // The wake that brought us here is used up: always ask for the next one, even if it is the same time.
    this.lastWake = Number.NaN;
    this.election.tick(now);
    if (this.rc && this.role === "candidate" && this.rc.phase !== "startWorking" && now >= this.rc.deadline) {
      reconfirm.restart(this, "reconfirm timed out");
    }
    if (this.isServing()) leader.retransmit(this);
    this.afterEvent();
  }

  /** The host made every record up to `seq` durable. */
  durable(seq: number, now: Millis): void {
    this.now = now;
    if (this.halted) return;
    this.gate.durable(seq);
    if (this.isServing()) leader.advanceCommit(this);
    this.afterEvent();
  }

  /** End of the host's loop turn: freeze the open group entry (feedback freeze) and flush commit info. */
  endTurn(now: Millis): void {
    this.now = now;
    if (this.halted) return;
    if (this.role === "leader") leader.endTurn(this);
    this.afterEvent();
  }

  // ---------------------------------------------------------------- client calls

  /**
   * Appends on the leader: returns {lsn, csn} at once, before replication; the explicit result
   * (committed / failed) follows later through the sink, exactly once.
   */
  append(
    payload: Uint8Array,
    now: Millis,
    options?: { refCsn?: Csn; session?: SessionTag; retry?: boolean },
  ): AppendOutcome {
    this.now = now;
    const refused = this.refuseAppend(now);
    if (refused) return refused;
    if (!(payload instanceof Uint8Array))
      return { ok: false, code: "BAD_INPUT", reason: "payload must be bytes" };
    if (payload.length > this.opts.maxPayloadBytes) {
      return {
        ok: false,
        code: "TOO_LARGE",
        reason: `${payload.length} bytes > ${this.opts.maxPayloadBytes}`,
      };
    }
    const refCsn = options?.refCsn ?? 0;
    if (!Number.isSafeInteger(refCsn) || refCsn < 0)
      return { ok: false, code: "BAD_INPUT", reason: "refCsn" };
    const session = options?.session;
    if (session) {
      if (!Number.isSafeInteger(session.id) || !Number.isSafeInteger(session.seq)) {
        return { ok: false, code: "BAD_INPUT", reason: "session" };
      }
      const known = this.opts.unsafe.noSessionCheck
        ? { kind: "new" as const }
        : this.sessions.lookup(
            session,
            options?.retry === true,
            this.log.base.lsn === 0 || this.opts.unsafe.retryIgnoresRecycling === true,
          );
      if (known.kind === "duplicate") return { ok: true, lsn: known.lsn, csn: known.csn, duplicate: true };
      if (known.kind === "forgotten" && !this.opts.unsafe.forgottenSeqIsNew) {
        return {
          ok: false,
          code: "INDETERMINATE",
          reason:
            "a retry this leader cannot recognise (recycled, or too old for the session's window): read the log to know",
        };
      }
    }
    const pendingBytes = this.log.end - this.committedEnd + (this.open?.bytes ?? 0);
    if (pendingBytes > this.opts.maxPendingBytes) return { ok: false, code: "BACKPRESSURE" };
    // Room in the WAL before the LSN: a write refused after it would take this replica out of service.
    if (
      this.walSpace &&
      !this.walSpace.reserve(appendBytes(this, payload.length, session !== undefined), false)
    )
      return NO_WAL_ROOM;
    const open = leader.openEntry(this, payload.length);
    const csn = Math.max(refCsn, open.maxCsn + 1, (this.csnFloor?.value ?? -1) + 1);
    const lsn = open.add(EntryKind.data, csn, payload, session);
    if (session) this.sessions.record(session, lsn, csn);
    if (open.bytes >= this.opts.maxGroupEntryBytes) leader.freeze(this);
    this.afterEvent();
    return { ok: true, lsn, csn };
  }

  /** Starts a membership change on the leader; its progress shows up as `config` events. */
  changeConfig(change: ConfigChange, now: Millis): AdminOutcome {
    this.now = now;
    const out = leader.changeConfig(this, change);
    this.afterEvent();
    return out;
  }

  /** Hands leadership to `target` once it has the whole log. */
  transferLeader(target: ReplicaId, now: Millis): AdminOutcome {
    this.now = now;
    const out = leader.transferLeader(this, target);
    this.afterEvent();
    return out;
  }

  /** The host renews leases for many groups at once (see CoalescedLeases); set before the first event. */
  useCoalescedLeases(source: CoalescedLeases): void {
    this.coalesced = source;
  }

  /** CSNs stay above the host's GTS floor, and a new leader waits for a fresh one; set before the first event. */
  useCsnFloor(source: CsnFloorSource): void {
    this.csnFloor = source;
  }

  /** Entries reserve room in the host's WAL before they get an LSN (see WalSpace); set before the first event. */
  useWalSpace(space: WalSpace): void {
    this.walSpace = space;
  }

  /** The LSN the next appended entry would get (past the open group entry). */
  get nextLsn(): Lsn {
    return this.open?.nextLsn ?? this.log.end;
  }

  /** Leader: may assign CSNs (it holds a GTS floor fetched after its StartWorking committed). */
  floorReady(): boolean {
    const f = this.csnFloor;
    return f === undefined || !f.required || f.valueFetch > this.floorAfterFetch;
  }

  /** Changes this replica's election priority (lowered for a stopping node, a failing disk, a lagging replica). */
  setPriority(priority: number): void {
    this.election.priority = priority;
  }

  /** Recycling: lets storage drop everything below `lsn` (rounded down to a group entry; at most committed). */
  advanceBase(lsn: Lsn, now: Millis): BaseInfo | undefined {
    this.now = now;
    if (this.halted) return undefined;
    const target = Math.min(lsn, this.committedEnd);
    const at = target >= this.log.end ? this.log.end : this.log.containing(target)?.lsn;
    if (at === undefined || at <= this.log.base.lsn) return undefined;
    const base = this.log.advanceBase(at);
    if (base) this.persist({ kind: "base", base, reset: false }, true);
    this.afterEvent();
    return base;
  }

  /**
   * Lets the bodies of old entries live only in the host's storage: `load` reads one back by LSN. Entries
   * are evicted by `evictBodies` once durable here and committed, keeping the newest `keepBytes` in memory.
   */
  useColdStore(load: (lsn: Lsn) => GroupEntry | undefined): void {
    this.log.setColdLoader(load);
  }

  evictBodies(keepBytes: number): void {
    this.log.evictBodies(Math.min(this.gate.durableEnd, this.committedEnd) - keepBytes);
  }

  /** The host could not write: the replica leaves service for good (a write error after an LSN was assigned). */
  fail(reason: string): void {
    if (this.opts.unsafe.reuseLsnAfterWriteError && this.role === "leader")
      return leader.rewindUnsynced(this);
    this.halt(`storage failure: ${reason}`);
  }

  /** The host cannot write for this replica (a failing or full disk): refuse appends, stand for no election. */
  setWritable(writable: boolean): void {
    this.writable = writable;
  }

  // ---------------------------------------------------------------- reads (committed entries only)

  get committedCsn(): Csn {
    if (this.committedEnd <= this.log.base.lsn) return this.log.base.csn;
    return this.log.containing(this.committedEnd - 1)?.maxCsn ?? this.log.base.csn;
  }

  /** The committed entry starting at `lsn`; undefined if none starts there or it is not committed yet. */
  read(lsn: Lsn): LogEntry | undefined {
    if (lsn < this.log.base.lsn || lsn >= this.committedEnd) return undefined;
    const ge = this.log.containing(lsn);
    return ge ? entryAt(ge, lsn) : undefined;
  }

  /** Committed entries from `from` (an entry's LSN, or any LSN: starts at the first entry at or after it). */
  *entries(from: Lsn, kinds: "data" | "all" = "data"): Generator<LogEntry> {
    let ge = from < this.log.base.lsn ? undefined : this.log.containing(from);
    if (from < this.log.base.lsn)
      throw new Error(`lsn ${from} is below the base ${this.log.base.lsn} (recycled)`);
    while (ge && ge.end <= this.committedEnd) {
      for (const e of entriesOf(ge)) {
        if (e.lsn >= from && (kinds === "all" || e.kind === EntryKind.data)) yield e;
      }
      ge = this.log.startingAt(ge.end);
    }
  }

  /** First committed entry whose CSN is at least `csn`. */
  locateByCsn(csn: Csn): LogEntry | undefined {
    const ge = this.log.firstWithCsnAtLeast(csn, this.committedEnd);
    if (!ge) return undefined;
    for (const e of this.entries(ge.lsn, "all")) if (e.csn >= csn) return e;
    return undefined;
  }

  /** Leader with a lease valid now: may take appends and serve leader reads (the role alone is not enough). */
  servesAsLeader(now: Millis): boolean {
    return this.role === "leader" && (this.opts.unsafe.leaseByRole === true || this.election.leaseValid(now));
  }

  /** A snapshot for status pages, tests and checkers. */
  status() {
    return {
      group: this.group,
      self: this.self,
      role: this.role,
      halted: this.halted,
      promisedPid: this.promisedPid,
      leaderPid: this.isServing() ? this.myPid : 0,
      leader: this.role === "leader" ? this.self : this.leaderHint,
      leaseValid: this.election.leaseValid(this.now),
      committedEnd: this.committedEnd,
      end: this.log.end,
      durableEnd: this.gate.durableEnd,
      base: this.log.base.lsn,
      config: this.config,
      pendingResults: this.pending.size,
      priority: this.election.priority,
    };
  }

  // ---------------------------------------------------------------- shared by the protocol modules

  /** Leader or candidate that has replicated its StartWorking: it runs the replication machinery. */
  isServing(): boolean {
    return this.role === "leader" || (this.role === "candidate" && this.rc?.phase === "startWorking");
  }

  persist(record: PersistRecord, changesLog: boolean): number {
    return this.gate.persist(
      record,
      changesLog ? { end: this.log.end, lastPid: this.log.lastPid } : undefined,
    );
  }

  persistMeta(): void {
    this.persist(
      { kind: "meta", meta: { promisedPid: this.promisedPid, highestBallot: this.election.highestBallot } },
      false,
    );
  }

  send(message: Message): void {
    this.sink.send(message);
  }

  /** Appends to the in-memory log and indexes what the body says (config, sessions). */
  appendToLog(ge: GroupEntry): void {
    this.log.append(ge);
    if (ge.flags & GroupFlag.session && !this.opts.unsafe.sessionsFromLeaderOnly) {
      for (const e of entriesOf(ge)) if (e.session) this.sessions.record(e.session, e.lsn, e.csn);
    }
  }

  /** Appends a group entry and asks for it to be made durable (`sessionsKnown`: its sessions are recorded). */
  acceptEntry(ge: GroupEntry, sessionsKnown = false): void {
    // The leader recorded its appends' sessions as they came; everyone else learns them from the log.
    if (sessionsKnown) this.log.append(ge);
    else this.appendToLog(ge);
    this.persist({ kind: "entry", entry: ge }, true);
  }

  /** Drops the suffix from `lsn`, or halts if that would touch the committed prefix or a leader's own log. */
  truncate(lsn: Lsn, incomingPid: Pid): boolean {
    if (lsn < this.committedEnd && !this.opts.unsafe.truncateCommitted) {
      this.halt(`refusing to truncate at ${lsn} below the committed end ${this.committedEnd}`);
      return false;
    }
    const victim = this.log.containing(lsn);
    if (victim && victim.pid >= incomingPid && !this.opts.unsafe.truncateAnyPid) {
      this.halt(`refusing to truncate pid ${victim.pid} at ${lsn} for pid ${incomingPid}`);
      return false;
    }
    if (this.role === "leader") {
      this.halt(`a leader never truncates its own log (at ${lsn})`);
      return false;
    }
    this.log.truncateFrom(lsn);
    if (this.opts.unsafe.failOnTruncate) this.pending.failFrom(lsn);
    this.sessions.truncate(lsn);
    this.persist({ kind: "truncate", lsn }, true);
    this.sink.event({ type: "truncated", group: this.group, lsn, role: this.role });
    return true;
  }

  /** A higher pid exists: promise it durably, and stop leading or campaigning (unless it is our own). */
  adoptPid(pid: Pid, ownCandidacy = false): void {
    if (pid <= this.promisedPid) return;
    this.promisedPid = pid;
    this.highestPidSeen = Math.max(this.highestPidSeen, pid);
    this.persistMeta();
    if (this.role === "leader" || (this.role === "candidate" && !ownCandidacy))
      this.stepDown(this.now, `pid ${pid}`);
  }

  /** Commit point moved: results, role and membership bookkeeping. */
  setCommitted(end: Lsn): void {
    if (end <= this.committedEnd) return;
    this.committedEnd = end;
    this.pending.resolve(this.log, end);
    this.sink.event({ type: "committed", group: this.group, committedEnd: end });
    if (this.role === "candidate" && this.rc?.phase === "startWorking" && end >= this.startWorkingEnd) {
      this.rc = undefined;
      this.transition({ type: "RECONFIRMED" });
      if (this.csnFloor) {
        this.floorAfterFetch = this.csnFloor.requested;
        this.csnFloor.wanted();
      }
    }
    if (this.role === "leader") leader.onCommitted(this);
    this.maybeResolved();
  }

  transition(event: RoleEvent): void {
    const next = nextRole(this.roleSnap, event);
    if (!next) throw new Error(`role machine refuses ${event.type} in ${this.role}`);
    this.roleSnap = next;
    const role = roleOf(next);
    if (role === this.role) return;
    this.role = role;
    this.sink.event({ type: "role", group: this.group, role, pid: this.promisedPid, at: this.now });
  }

  maybeResolved(): void {
    if (this.role === "pendingFollower" && this.pending.size === 0) this.transition({ type: "RESOLVED" });
  }

  /** Lost the lease, saw a higher pid, or handed over: stop serving; issued entries await their results. */
  stepDown(_now: Millis, _why: string): void {
    if (this.role !== "leader" && this.role !== "candidate") return;
    this.election.drop();
    this.discardOpen();
    this.progress.clear();
    this.configChange = undefined;
    this.transfer = undefined;
    this.rc = undefined;
    this.startWorkingEnd = Number.POSITIVE_INFINITY;
    this.transition({ type: "STEP_DOWN", pending: this.pending.size > 0 });
    this.maybeResolved();
  }

  halt(reason: string): void {
    if (this.halted) return;
    this.halted = reason;
    this.discardOpen();
    this.election.drop();
    // Every issued entry still waiting gets its one explicit result: a replica out of service cannot know it.
    this.pending.abandon();
    this.sink.event({ type: "halted", group: this.group, reason });
  }

  /**
   * Drops the open group entry: never persisted nor sent, nobody else can hold its entries, so they can never
   * be committed (failed), and what it reserved in the WAL goes back.
   */
  private discardOpen(): void {
    const o = this.open;
    if (!o) return;
    this.open = undefined;
    this.walSpace?.release(o.nextLsn - o.lsn);
    this.sessions.truncate(o.lsn);
    if (o.count > 0)
      this.sink.result({ group: this.group, outcome: "failed", pid: this.myPid, from: o.lsn, to: o.nextLsn });
  }

  reject(message: unknown, reason: string): void {
    const from = typeof (message as Message)?.from === "string" ? (message as Message).from : "?";
    this.sink.event({ type: "rejected", group: this.group, from, reason });
  }

  /**
   * The config in effect, which every protocol decision uses: the latest config entry in the log, in effect
   * as soon as it is appended (committed or not), so a quorum of it meets every quorum of the config before.
   */
  get config(): MemberConfig {
    // UnsafeSwitches.configWhenCommitted (test-only): only the latest committed config entry counts.
    if (this.opts.unsafe.configWhenCommitted) return this.log.configBelow(this.committedEnd);
    return this.log.config;
  }

  quorum(): number {
    return quorum(this.config);
  }

  private onLeaseWon(now: Millis): void {
    this.transition({ type: "LEASE_WON" });
    this.leaderHint = this.self;
    reconfirm.start(this, now);
  }

  private refuseAppend(now: Millis): AppendOutcome | undefined {
    if (this.halted) return { ok: false, code: "HALTED", reason: this.halted };
    if (!this.servesAsLeader(now)) {
      const hint = this.leaderHint !== this.self ? this.leaderHint : undefined;
      return hint ? { ok: false, code: "NOT_LEADER", leader: hint } : { ok: false, code: "NOT_LEADER" };
    }
    if (!this.writable) return { ok: false, code: "NOT_WRITABLE" };
    if (this.transfer || this.configChange?.barrier) return { ok: false, code: "BUSY" };
    if (!this.floorReady()) return { ok: false, code: "BUSY", reason: "waiting for a GTS floor" };
    return undefined;
  }

  private afterEvent(): void {
    let at = this.halted ? Number.POSITIVE_INFINITY : this.election.nextDeadline();
    if (this.rc && this.rc.phase !== "startWorking") at = Math.min(at, this.rc.deadline);
    if (this.isServing()) at = Math.min(at, leader.nextDeadline(this));
    if (at !== this.lastWake && Number.isFinite(at)) {
      this.lastWake = at;
      this.sink.wake(this.group, at);
    }
  }
}
