import type { GroupEntry } from "./group-entry.ts";
import type { BaseInfo, ConfigVersion, GroupId, Lsn, Pid, ReplicaId } from "./types.ts";

/** Fields every peer message carries: which group (and incarnation of it), from whom, to whom. */
export interface Envelope {
  readonly group: GroupId;
  /** Incarnation of the group: a recreated group never mixes with its predecessor. */
  readonly inc: number;
  readonly from: ReplicaId;
  readonly to: ReplicaId;
}

/** Election: ask for (or renew) a lease for `ballot`. */
export interface VoteRequest extends Envelope {
  readonly type: "vote";
  readonly ballot: number;
  readonly priority: number;
  /** Renewal sequence; the candidate remembers when it sent each one. */
  readonly seq: number;
  readonly renew: boolean;
  readonly cfg: ConfigVersion;
}

export interface VoteReply extends Envelope {
  readonly type: "voteReply";
  readonly ballot: number;
  readonly seq: number;
  readonly granted: boolean;
  readonly highestBallot: number;
  readonly cfg: ConfigVersion;
}

/** Leader transfer: the old leader dropped its lease for `ballot`; members release it and prefer `target`. */
export interface Abdicate extends Envelope {
  readonly type: "abdicate";
  readonly ballot: number;
  readonly target: ReplicaId;
}

/** Leader transfer: the target should stand for election now. */
export interface TimeoutNow extends Envelope {
  readonly type: "timeoutNow";
  readonly ballot: number;
}

/** Reconfirmation phase 1. */
export interface Prepare extends Envelope {
  readonly type: "prepare";
  readonly pid: Pid;
}

/** A promise (ok) carries the pid of the last durable entry and the durable end; a refusal the higher promise. */
export interface PrepareReply extends Envelope {
  readonly type: "prepareReply";
  readonly pid: Pid;
  readonly ok: boolean;
  readonly promised: Pid;
  readonly lastPid: Pid;
  readonly end: Lsn;
  readonly baseLsn: Lsn;
}

/** A candidate asks the chosen replica for its group entries in [fromLsn, toLsn). */
export interface Fetch extends Envelope {
  readonly type: "fetch";
  readonly pid: Pid;
  readonly fromLsn: Lsn;
  readonly toLsn: Lsn;
}

export interface FetchReply extends Envelope {
  readonly type: "fetchReply";
  readonly pid: Pid;
  readonly prevLsn: Lsn;
  readonly prevPid: Pid;
  readonly entries: readonly GroupEntry[];
  /** Set when `fromLsn` was below the sender's base: the receiver must rebuild from it first. */
  readonly base?: BaseInfo;
}

/** Replication: group entries following (prevLsn, prevPid) in the leader's log. */
export interface Push extends Envelope {
  readonly type: "push";
  readonly pid: Pid;
  readonly prevLsn: Lsn;
  readonly prevPid: Pid;
  readonly entries: readonly GroupEntry[];
  readonly committedEnd: Lsn;
}

/**
 * Anchored ack: `end` is the durable end of the prefix checked against `pid`.
 * A refusal (ok = false) carries where the leader should retry from, or the higher pid promised.
 */
export interface Ack extends Envelope {
  readonly type: "ack";
  readonly pid: Pid;
  readonly ok: boolean;
  readonly end: Lsn;
  readonly committedEnd: Lsn;
  readonly retryFrom: Lsn;
  readonly promised: Pid;
}

/** Commit point for an idle leader, anchored to the leader's log end by (prevLsn, prevPid). */
export interface CommitInfo extends Envelope {
  readonly type: "commitInfo";
  readonly pid: Pid;
  readonly prevLsn: Lsn;
  readonly prevPid: Pid;
  readonly committedEnd: Lsn;
}

/** The follower needs entries below the leader's base: it must rebuild from the leader's base point. */
export interface Rebuild extends Envelope {
  readonly type: "rebuild";
  readonly pid: Pid;
  readonly base: BaseInfo;
}

/**
 * Coalesced lease renewal: one message per node pair per renew interval instead of one vote per group,
 * renewing (not granting anew) the lease of every group of the set `epoch` names (the groups the sender
 * leads with the receiver as a member). The set itself travels only when it changes, or now and then.
 * Node-level: `group` is 0 and the node runtime, not a replica, handles it.
 */
export interface LeaseRenew extends Envelope {
  readonly type: "leaseRenew";
  readonly seq: number;
  /** Names the set of (group, ballot) pairs this renewal covers; a new set gets a new epoch. */
  readonly epoch: number;
  /** The set as flat pairs (group, ballot, ...), or empty for "the same set as `epoch`". */
  readonly groups: readonly number[];
}

export interface LeaseRenewReply extends Envelope {
  readonly type: "leaseRenewReply";
  readonly seq: number;
  readonly epoch: number;
  /** Groups of a newly sent set whose grant we do not hold; the leader asks them with per-group votes. */
  readonly refused: readonly number[];
  /** We do not know `epoch` (we restarted, or missed the set): send it in full. Nothing was renewed. */
  readonly needSet: boolean;
}

/**
 * Membership: the sender's committed config (version `cfg`) names the receiver neither as member nor learner:
 * the answer to a vote request from a replica removed while it was away (see removal.ts).
 */
export interface NotMember extends Envelope {
  readonly type: "notMember";
  readonly cfg: ConfigVersion;
}

export type Message =
  | VoteRequest
  | VoteReply
  | Abdicate
  | TimeoutNow
  | Prepare
  | PrepareReply
  | Fetch
  | FetchReply
  | Push
  | Ack
  | CommitInfo
  | Rebuild
  | LeaseRenew
  | LeaseRenewReply
  | NotMember;

export type MessageType = Message["type"];

/** Messages that keep leases alive: a host sends them ahead of bulk replication. */
export function isLiveness(m: Message): boolean {
  return (
    m.type === "vote" || m.type === "voteReply" || m.type === "leaseRenew" || m.type === "leaseRenewReply"
  );
}
