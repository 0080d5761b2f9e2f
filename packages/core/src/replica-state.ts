import type { DurableGate } from "./durable-gate.ts";
import type { EffectSink, PersistRecord, Role } from "./effects.ts";
import type { Election } from "./election.ts";
import type { GroupEntry } from "./group-entry.ts";
import type { GroupLog } from "./group-log.ts";
import type { LogEntry } from "./log-entry.ts";
import type { LoopLag } from "./loop-lag.ts";
import type { Message } from "./messages.ts";
import type { OpenGroupEntry } from "./open-group-entry.ts";
import type { ResolvedOptions } from "./options.ts";
import type { PendingResults } from "./pending-results.ts";
import type { RoleEvent } from "./role-machine.ts";
import type { SessionTable } from "./session-table.ts";
import type { ConfigVersion, Lsn, MemberConfig, Millis, Pid, ReplicaId } from "./types.ts";
import type { WalSpace } from "./wal-space.ts";

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

/** A candidate's log reconfirmation: prepare, fetch from the chosen log, then StartWorking. */
export interface ReconfirmState {
  readonly pid: Pid;
  phase: "prepare" | "fetch" | "startWorking";
  readonly promises: Map<ReplicaId, { lastPid: Pid; end: Lsn }>;
  deadline: Millis;
  chosen: { id: ReplicaId; lastPid: Pid; end: Lsn } | undefined;
  fetchFrom: Lsn;
  /** The config the candidate stood with: its prepare went to these members (the chosen log may hold a later one). */
  readonly config: MemberConfig;
}

/**
 * The state of one replica and the operations shared by the protocol modules (follower, leader, reconfirm,
 * append admission, reads), which take this interface rather than the Replica class, so none of them imports
 * the class that dispatches to them. Core-internal: hosts see only `Replica`'s methods.
 */
export interface ReplicaState {
  readonly opts: ResolvedOptions;
  readonly group: number;
  readonly self: ReplicaId;
  readonly inc: number;
  readonly sink: EffectSink;
  readonly log: GroupLog;
  readonly gate: DurableGate;
  readonly election: Election;
  readonly pending: PendingResults;
  /** The committed entry at an LSN (undefined: none starts there, not committed, or below the base). */
  readCommitted(lsn: Lsn): LogEntry | undefined;
  readonly sessions: SessionTable;
  role: Role;
  promisedPid: Pid;
  committedEnd: Lsn;
  /** Follower: the pid its log prefix up to `checkedEnd` was last verified against. */
  checkedPid: Pid;
  checkedEnd: Lsn;
  leaderHint: ReplicaId | undefined;
  halted: string | undefined;
  /** A member's committed config names this replica nowhere (removal.ts): it never stands again. */
  removed: { readonly by: ReplicaId; readonly version: ConfigVersion } | undefined;
  writable: boolean;
  now: Millis;
  // Leader and candidate state.
  myPid: Pid;
  open: OpenGroupEntry | undefined;
  /** Size hint for the next open group entry's buffer (the last one's size, plus a margin). */
  lastGroupBytes: number;
  progress: Map<ReplicaId, Progress>;
  startWorkingEnd: Lsn;
  lastPushedCommitted: Lsn;
  /** When commit info held back for the next push goes out on its own (see commitInfoDelayMs); Infinity: none due. */
  commitInfoDueAt: Millis;
  configChange: PendingConfigChange | undefined;
  transfer: { target: ReplicaId; deadline: Millis } | undefined;
  rc: ReconfirmState | undefined;
  /** Highest pid seen refused by anyone; the next prepare goes above it. */
  highestPidSeen: Pid;
  /** Room in the host's WAL, reserved before an LSN is assigned (see WalSpace); none: no disk budget. */
  walSpace: WalSpace | undefined;
  /** How slow the host's loop turns are: round-trip timeouts (reconfirm, retransmit) wait that much longer. */
  loopLag: LoopLag | undefined;
  /** The config in effect (see ReplicaCore.config). */
  readonly config: MemberConfig;

  /** Leader or candidate that has replicated its StartWorking: it runs the replication machinery. */
  isServing(): boolean;
  /** Leader with a lease valid now: may take appends and serve leader reads (the role alone is not enough). */
  servesAsLeader(now: Millis): boolean;
  /** Leader: may assign CSNs (it holds a GTS floor fetched after its StartWorking committed). */
  floorReady(): boolean;
  /** The host's GTS floor (CSNs stay above it), -1 without one. */
  csnFloorValue(): number;
  persist(record: PersistRecord, changesLog: boolean): number;
  persistMeta(): void;
  send(message: Message): void;
  /** Appends to the in-memory log and indexes what the body says (config, sessions). */
  appendToLog(ge: GroupEntry): void;
  /** Appends a group entry and asks for it to be made durable (`sessionsKnown`: its sessions are recorded). */
  acceptEntry(ge: GroupEntry, sessionsKnown?: boolean): void;
  /** Drops the suffix from `lsn`, or halts if that would touch the committed prefix or a leader's own log. */
  truncate(lsn: Lsn, incomingPid: Pid): boolean;
  /** A higher pid exists: promise it durably, and stop leading or campaigning (unless it is our own). */
  adoptPid(pid: Pid, ownCandidacy?: boolean): void;
  /** Commit point moved: results, role and membership bookkeeping. */
  setCommitted(end: Lsn): void;
  transition(event: RoleEvent): void;
  maybeResolved(): void;
  /** Lost the lease, saw a higher pid, or handed over: stop serving; issued entries await their results. */
  stepDown(now: Millis, why: string): void;
  halt(reason: string): void;
  reject(message: unknown, reason: string): void;
  quorum(): number;
}
