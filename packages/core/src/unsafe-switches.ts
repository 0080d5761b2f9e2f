/**
 * Test-only faults: each switch turns off one of DESIGN.md's "Rules that keep it safe" (or one clause of
 * it), the way a naive build would get it wrong. A guard test in @palf/testkit (src/guards/) turns each one
 * on and shows that the simulator's checkers catch the breach, while the same seeds pass with it off.
 * Production never sets any of them: every guarded branch reads its switch with a one-line check and is
 * unchanged when the switch is off. A rule without such a test is unguarded.
 */
export interface UnsafeSwitches {
  // ---- Commit only your own pid.
  /** The commit point counts majority-durable LSNs before our StartWorking is on a quorum (Raft's figure 8). */
  readonly commitBeforeStartWorking: boolean;

  // ---- Prepare replies.
  /** A promise reports the promised pid as its log's last pid (instead of the pid of its last durable entry). */
  readonly prepareReplyPromisedPid: boolean;
  /** A promise (and the log tail it describes) leaves at once, before the fsync that makes it durable. */
  readonly prepareReplyBeforeDurable: boolean;
  /** The candidate counts its own promise (and its in-memory log) before that promise is durable. */
  readonly countOwnPromiseEarly: boolean;
  /**
   * After choosing a log the candidate compares lengths, not content: it fetches only what lies past its own
   * end and keeps its own entries, never truncating the suffix the chosen log lacks.
   */
  readonly keepOwnSuffix: boolean;

  // ---- Acks and commit info are anchored.
  /** An ack carries the follower's whole log end, not the end of the prefix checked against the leader's pid. */
  readonly ackLogEnd: boolean;
  /** A follower applies commit info without checking its prev LSN and prev pid against its own log. */
  readonly commitInfoUnanchored: boolean;
  /** A follower's committed end is the leader's (capped by its log end), not min(leader's, its checked prefix). */
  readonly followerTrustsLeaderCommit: boolean;

  // ---- Durable before it leaves.
  /** Promises, grants, accepts and acks leave before the fsync that made them durable. */
  readonly sendBeforeDurable: boolean;
  /** The leader counts its in-memory log end as its own position in the commit point, not its synced end. */
  readonly leaderCountsLogEnd: boolean;

  // ---- Truncation.
  /** A follower takes pushes from a pid below its promise and truncates whatever conflicts, whatever its pid. */
  readonly truncateAnyPid: boolean;
  /** Truncating at or below the committed end goes ahead silently instead of halting loudly. */
  readonly truncateCommitted: boolean;
  /**
   * A write error after LSNs were assigned does not take the leader out of service: it drops its unsynced
   * tail and carries on, assigning those LSNs again under the same pid (a follower may hold the old entries).
   */
  readonly reuseLsnAfterWriteError: boolean;

  // ---- `failed` only when a higher pid's committed end covers the entry.
  /** Entries this replica issued are reported failed as soon as they are truncated here. */
  readonly failOnTruncate: boolean;

  // ---- Leases.
  /** A lease is counted from when the grant arrived, not from when the request was sent. */
  readonly leaseFromReply: boolean;
  /** A lease lasts the full L: no L(1 - 2 drift) allowance and no guard. */
  readonly leaseWithoutDriftGuard: boolean;
  /** A leader serves (appends, leader reads) by its role alone, without checking that its lease is valid now. */
  readonly leaseByRole: boolean;
  /** A transferring leader keeps its lease while it hands leadership over. */
  readonly transferKeepsLease: boolean;
  /** A restarted (or newly added, or recreated) replica grants leases at once instead of staying silent. */
  readonly grantAfterRestart: boolean;
  /** A member grants a request whose config version is older than its own. */
  readonly grantIgnoresConfigVersion: boolean;

  // ---- Membership.
  /** A change may break q_old + q_new > |M_old U M_new| (and may set a replica number below the member count). */
  readonly skipQuorumIntersection: boolean;
  /** A candidate whose StartWorking is not committed may change the config, and the change skips the barrier. */
  readonly changeBeforeStartWorking: boolean;
  /** Prepare goes to learners too, and their promises count toward the majority (not the candidate's members). */
  readonly countLearnerPromises: boolean;
  /** The config in effect is the latest *committed* config entry, not the latest one appended to the log. */
  readonly configWhenCommitted: boolean;
  /** StartWorking carries the config the candidate held when it stood, not the config of the log it chose. */
  readonly startWorkingOwnConfig: boolean;
  /** A member tells a replica it is no longer in the group on an uncommitted config (one a new leader may truncate). */
  readonly removedByUncommittedConfig: boolean;
  /** A replica accepts messages of another incarnation of its group (a deleted group's stragglers reach its recreation). */
  readonly ignoreIncarnation: boolean;

  // ---- Appends are idempotent.
  /** The leader does not look a (session, seq) up: a retried append is appended again. */
  readonly noSessionCheck: boolean;
  /** Sessions are recorded only by the leader that took the append: its successor cannot recognise a retry. */
  readonly sessionsFromLeaderOnly: boolean;
  /** A seq below the session window is taken as new instead of answered INDETERMINATE. */
  readonly forgottenSeqIsNew: boolean;
  /** A retry missing from a session table rebuilt above a recycled base is taken as new (it may be below). */
  readonly retryIgnoresRecycling: boolean;
  /**
   * A result that cannot be known (the entry lies below a rebuilt base, or its leader left service) is
   * reported `failed` instead of `indeterminate`.
   */
  readonly unknownAsFailed: boolean;
}

/** The name of one switch (what `pnpm sim --unsafe <name>` takes). */
export type UnsafeSwitch = keyof UnsafeSwitches;

/** Every switch, in the order of DESIGN.md's rules. */
export const unsafeSwitchNames: readonly UnsafeSwitch[] = [
  "commitBeforeStartWorking",
  "prepareReplyPromisedPid",
  "prepareReplyBeforeDurable",
  "countOwnPromiseEarly",
  "keepOwnSuffix",
  "ackLogEnd",
  "commitInfoUnanchored",
  "followerTrustsLeaderCommit",
  "sendBeforeDurable",
  "leaderCountsLogEnd",
  "truncateAnyPid",
  "truncateCommitted",
  "reuseLsnAfterWriteError",
  "failOnTruncate",
  "leaseFromReply",
  "leaseWithoutDriftGuard",
  "leaseByRole",
  "transferKeepsLease",
  "grantAfterRestart",
  "grantIgnoresConfigVersion",
  "skipQuorumIntersection",
  "changeBeforeStartWorking",
  "countLearnerPromises",
  "configWhenCommitted",
  "startWorkingOwnConfig",
  "removedByUncommittedConfig",
  "ignoreIncarnation",
  "noSessionCheck",
  "sessionsFromLeaderOnly",
  "forgottenSeqIsNew",
  "retryIgnoresRecycling",
  "unknownAsFailed",
];

/** No switch on: what production runs. */
export const safe: Partial<UnsafeSwitches> = Object.freeze({});
