import type { CoalescedLeases } from "./coalesced-leases.ts";
import { readCommitted } from "./committed-reads.ts";
import type { CsnFloorSource } from "./csn-floor.ts";
import { DurableGate } from "./durable-gate.ts";
import type { EffectSink, PersistRecord, Role } from "./effects.ts";
import { Election } from "./election.ts";
import { GROUP_HEADER_BYTES, type GroupEntry, GroupFlag } from "./group-entry.ts";
import { GroupLog } from "./group-log.ts";
import * as leader from "./leader.ts";
import { forEachSession, type LogEntry } from "./log-entry.ts";
import type { LoopLag } from "./loop-lag.ts";
import { isMember, quorum } from "./member-config.ts";
import type { Message } from "./messages.ts";
import type { OpenGroupEntry } from "./open-group-entry.ts";
import type { DurableImage, ReplicaOptions, ResolvedOptions } from "./options.ts";
import { resolveOptions } from "./options.ts";
import { PendingResults } from "./pending-results.ts";
import { Prng } from "./prng.ts";
import * as reconfirm from "./reconfirm.ts";
import type { PendingConfigChange, Progress, ReconfirmState, ReplicaState } from "./replica-state.ts";
import { initialRole, nextRole, type RoleEvent, type RoleSnapshot, roleOf } from "./role-machine.ts";
import { SessionTable } from "./session-table.ts";
import type { BaseInfo, ConfigVersion, Lsn, MemberConfig, Millis, Pid, ReplicaId } from "./types.ts";
import type { WalSpace } from "./wal-space.ts";

/**
 * The state of one replica and the operations its protocol modules share. Core-internal: `Replica` wraps it
 * and is all a host sees, so no host can change the state except through a named method.
 */
export class ReplicaCore implements ReplicaState {
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
  checkedPid: Pid = 0;
  checkedEnd: Lsn = -1;
  leaderHint: ReplicaId | undefined;
  halted: string | undefined;
  removed: { readonly by: ReplicaId; readonly version: ConfigVersion } | undefined;
  writable = true;
  now: Millis;
  myPid: Pid = 0;
  open: OpenGroupEntry | undefined;
  lastGroupBytes = 0;
  progress = new Map<ReplicaId, Progress>();
  startWorkingEnd: Lsn = Number.POSITIVE_INFINITY;
  lastPushedCommitted: Lsn = 0;
  commitInfoDueAt: Millis = Number.POSITIVE_INFINITY;
  configChange: PendingConfigChange | undefined;
  transfer: { target: ReplicaId; deadline: Millis } | undefined;
  rc: ReconfirmState | undefined;
  highestPidSeen: Pid;
  walSpace: WalSpace | undefined;
  /** The wake last asked of the host (NaN: ask again even for the same time). */
  lastWake = Number.NaN;
  coalesced: CoalescedLeases | undefined;
  loopLag: LoopLag | undefined;
  csnFloor: CsnFloorSource | undefined;
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
        loopLag: () => this.loopLag,
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
          this.removed === undefined &&
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
  }

  readCommitted(lsn: Lsn): LogEntry | undefined {
    return readCommitted(this, lsn);
  }

  isServing(): boolean {
    return this.role === "leader" || (this.role === "candidate" && this.rc?.phase === "startWorking");
  }

  servesAsLeader(now: Millis): boolean {
    return this.role === "leader" && (this.opts.unsafe.leaseByRole === true || this.election.leaseValid(now));
  }

  floorReady(): boolean {
    const f = this.csnFloor;
    return f === undefined || !f.required || f.valueFetch > this.floorAfterFetch;
  }

  csnFloorValue(): number {
    return this.csnFloor?.value ?? -1;
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

  appendToLog(ge: GroupEntry): void {
    this.log.append(ge);
    if (ge.flags & GroupFlag.session && !this.opts.unsafe.sessionsFromLeaderOnly) {
      forEachSession(ge.body, ge.lsn + GROUP_HEADER_BYTES, (tag, lsn, csn) =>
        this.sessions.record(tag, lsn, csn),
      );
    }
  }

  acceptEntry(ge: GroupEntry, sessionsKnown = false): void {
    // The leader recorded its appends' sessions as they came; everyone else learns them from the log.
    if (sessionsKnown) this.log.append(ge);
    else this.appendToLog(ge);
    this.persist({ kind: "entry", entry: ge }, true);
  }

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

  adoptPid(pid: Pid, ownCandidacy = false): void {
    if (pid <= this.promisedPid) return;
    this.promisedPid = pid;
    this.highestPidSeen = Math.max(this.highestPidSeen, pid);
    this.persistMeta();
    if (this.role === "leader" || (this.role === "candidate" && !ownCandidacy))
      this.stepDown(this.now, `pid ${pid}`);
  }

  setCommitted(end: Lsn): void {
    if (end <= this.committedEnd) return;
    this.committedEnd = end;
    this.pending.resolve(this.log, end, this);
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
    this.pending.discardOpen(this.myPid, o.lsn, o.nextLsn);
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

  /** After every event: ask the host to wake us at the next deadline (once per distinct time). */
  afterEvent(): void {
    let at = this.halted ? Number.POSITIVE_INFINITY : this.election.nextDeadline();
    if (this.rc && this.rc.phase !== "startWorking") at = Math.min(at, this.rc.deadline);
    if (this.isServing()) at = Math.min(at, leader.nextDeadline(this));
    // A deadline already behind us (a held lease whose quorum's grants are all gone ends at -Infinity) is due
    // now: dropped as "no deadline", the leader never ticked to step down and no follower stood meanwhile.
    if (at === Number.NEGATIVE_INFINITY) at = this.now;
    if (at !== this.lastWake && Number.isFinite(at)) {
      this.lastWake = at;
      this.sink.wake(this.group, at);
    }
  }
}
