/** A group's id: a uint32, unique in the cluster. */
export type GroupId = number;
/** A replica's id: the id of the node that hosts it (one replica per node per group). */
export type ReplicaId = string;
/** Proposal id (PALF's term): orders leaders; log safety rests on it alone. */
export type Pid = number;
/** Byte offset in a group's virtual log. Comparable only within one group. */
export type Lsn = number;
/** Commit sequence number: integer microseconds from GTS, below 2^53. */
export type Csn = number;
/** Local monotonic time in milliseconds, as the host passes it in with every event. */
export type Millis = number;

/** Version of a membership config: the pid of the leader that appended it and a sequence within the group. */
export interface ConfigVersion {
  readonly pid: Pid;
  readonly seq: number;
}

/** Membership of a group: voting members, non-voting learners and the replica number that sets the quorum. */
export interface MemberConfig {
  readonly version: ConfigVersion;
  readonly members: readonly ReplicaId[];
  readonly learners: readonly ReplicaId[];
  readonly replicaNum: number;
}

/** Where a replica's log starts after recycling or a rebuild: everything below `lsn` is gone. */
export interface BaseInfo {
  readonly lsn: Lsn;
  /** pid of the group entry that ended at `lsn` (0 for an empty log). */
  readonly pid: Pid;
  /** Accumulated checksum of the log content up to `lsn`. */
  readonly accum: number;
  /** Highest CSN below `lsn`. */
  readonly csn: Csn;
  /** The config in effect at `lsn`. */
  readonly config: MemberConfig;
}

/** The only state a replica keeps across a crash, besides its log. */
export interface DurableMeta {
  /** Highest pid this replica promised (prepare) or followed. */
  readonly promisedPid: Pid;
  /** Highest election ballot it saw; persisted before any grant leaves. */
  readonly highestBallot: number;
}

export function compareVersion(a: ConfigVersion, b: ConfigVersion): number {
  return a.pid !== b.pid ? a.pid - b.pid : a.seq - b.seq;
}
