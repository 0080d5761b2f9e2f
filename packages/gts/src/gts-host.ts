/** What the GTS server needs from the node that hosts a replica of the GTS group (group 0). */
export interface GtsHost {
  /**
   * This replica leads the GTS group with a valid lease now and its StartWorking has committed; the pid of
   * that leadership, or 0. Asked before every reply (the role alone is not enough).
   */
  leaderPid(): number;
  /** Where the leader is, when this replica is not it. */
  leaderHint(): string | undefined;
  /** Highest CSN committed in the GTS log: every ceiling ever committed is at or below it. */
  committedCeiling(): number;
  /** Appends a ceiling entry (CSN = value) and resolves true once it is committed, false if it failed. */
  appendCeiling(value: number): Promise<boolean>;
  /** Physical time in integer microseconds, monotonic within the process. */
  nowUs(): number;
}
