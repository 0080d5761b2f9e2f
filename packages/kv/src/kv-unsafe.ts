/**
 * Unsafe switches: each turns off one rule of DESIGN.md section 5, so that its guard test (kv-guards.test.ts)
 * can show the rule matters: the test fails with the switch on. Never set outside tests.
 */
export interface KvUnsafeSwitches {
  /** A later commit/abort of a decided transaction replaces the decision (breaks "the first decision wins"). */
  laterDecisionWins: boolean;
  /** Reads ignore locks whose prepare version is at or below the snapshot. */
  readSkipsLocks: boolean;
  /** Reads are served without the read fence (from whatever the replica has applied). */
  skipReadFence: boolean;
  /** The coordinator takes the lowest prepare version as the commit version instead of the highest. */
  commitAtMinPrepare: boolean;
  /** Transaction CDC emits version c even while an undecided prepare <= c is known. */
  cdcIgnoresUndecided: boolean;
}

export const kvUnsafe: KvUnsafeSwitches = {
  laterDecisionWins: false,
  readSkipsLocks: false,
  skipReadFence: false,
  commitAtMinPrepare: false,
  cdcIgnoresUndecided: false,
};

export const kvUnsafeSwitchNames = Object.keys(kvUnsafe) as Array<keyof KvUnsafeSwitches>;

/** Runs `fn` with some switches on, restoring them after. */
export async function withKvUnsafe<T>(on: Partial<KvUnsafeSwitches>, fn: () => Promise<T>): Promise<T> {
  const before = { ...kvUnsafe };
  Object.assign(kvUnsafe, on);
  try {
    return await fn();
  } finally {
    Object.assign(kvUnsafe, before);
  }
}
