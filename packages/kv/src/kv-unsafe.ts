/**
 * Unsafe switches: each turns off one rule of DESIGN.md section 5, so that its guard test can show the rule
 * matters: the test fails with the switch on (kv-guards.test.ts on an in-memory cluster, and the store
 * simulator's guards in @palf/testkit). Never set outside tests. The code reads them through kvUnsafeOn,
 * which records the switches consulted while on: a guard proves it ran its switch, not only that it named it.
 */
export interface KvUnsafeSwitches {
  /**
   * The coordinator decides "no conflict" from the state its reads saw, ahead of where its prepares land in
   * the log, instead of from the outcome of applying each prepare in log order (breaks "conflicts are
   * decided only when applying in log order").
   */
  conflictsDecidedAheadOfLog: boolean;
  /** A later commit/abort of a decided transaction replaces the decision (breaks "the first decision wins"). */
  laterDecisionWins: boolean;
  /** Reads ignore locks whose prepare version is at or below the snapshot. */
  readSkipsLocks: boolean;
  /** Reads are served without the read fence (from whatever the replica has applied). */
  skipReadFence: boolean;
  /** The coordinator takes the lowest prepare version as the commit version instead of the highest. */
  commitAtMinPrepare: boolean;
  /** The SDK answers a commit without waiting for GTS to pass its commit version (no commit wait). */
  skipCommitWait: boolean;
  /** Transaction CDC emits version c even while an undecided prepare <= c is known. */
  cdcIgnoresUndecided: boolean;
  /** A partition restored from a checkpoint does not rebuild the locks of its undecided transactions. */
  recoveryDropsLocks: boolean;
}

export const kvUnsafe: KvUnsafeSwitches = {
  conflictsDecidedAheadOfLog: false,
  laterDecisionWins: false,
  readSkipsLocks: false,
  skipReadFence: false,
  commitAtMinPrepare: false,
  skipCommitWait: false,
  cdcIgnoresUndecided: false,
  recoveryDropsLocks: false,
};

export const kvUnsafeSwitchNames = Object.keys(kvUnsafe) as Array<keyof KvUnsafeSwitches>;

const consulted = new Set<keyof KvUnsafeSwitches>();

/** Whether a switch is on; a switch found on is recorded as consulted (see consultedKvSwitches). */
export function kvUnsafeOn(name: keyof KvUnsafeSwitches): boolean {
  if (!kvUnsafe[name]) return false;
  consulted.add(name);
  return true;
}

/** The switches the code consulted while they were on, since the last withKvUnsafe began. */
export function consultedKvSwitches(): Array<keyof KvUnsafeSwitches> {
  return [...consulted].sort();
}

/** Runs `fn` with some switches on, restoring them after; starts a fresh record of consulted switches. */
export async function withKvUnsafe<T>(on: Partial<KvUnsafeSwitches>, fn: () => Promise<T>): Promise<T> {
  const before = { ...kvUnsafe };
  consulted.clear();
  Object.assign(kvUnsafe, on);
  try {
    return await fn();
  } finally {
    Object.assign(kvUnsafe, before);
  }
}
