/**
 * The store simulator's guard table: for every rule of DESIGN.md section 5 (every KvUnsafeSwitches field),
 * the first seed that catches its switch, searched from seed 1 (so seeds 1..seed-1 did not), and what
 * catches it. kv-sim-guards.test.ts replays each; guards/coverage.test.ts checks every switch is here and
 * that its run consults the switch. Seeds move when the simulator changes: search again with
 * `pnpm sim:kv --seeds 100 --unsafe <switch>` and take the first failing seed.
 */
import type { KvUnsafeSwitches } from "@palf/kv";

export interface KvSimGuard {
  readonly name: keyof KvUnsafeSwitches;
  /** The rule of DESIGN.md section 5 it breaks. */
  readonly rule: string;
  readonly seed: number;
  readonly caughtBy: RegExp;
}

export const KV_SIM_GUARDS: readonly KvSimGuard[] = [
  {
    name: "conflictsDecidedAheadOfLog",
    rule: "conflicts are decided only when applying in log order",
    seed: 1,
    caughtBy: /bank: wrong-total/,
  },
  {
    name: "laterDecisionWins",
    rule: "the primary's first decision record is the only decision",
    seed: 1,
    caughtBy: /cdc: acknowledged .* was never delivered/,
  },
  {
    name: "commitAtMinPrepare",
    rule: "commit version >= every prepare version",
    seed: 1,
    caughtBy: /locks: .* still holds a lock on partition \d+ after healing/,
  },
  {
    name: "skipCommitWait",
    rule: "no answer before GTS > commit version",
    seed: 31,
    caughtBy: /list-append: G-single-realtime/,
  },
  {
    name: "readSkipsLocks",
    rule: "a reader never skips a lock whose prepare version <= its snapshot",
    seed: 1,
    caughtBy: /bank: wrong-total/,
  },
  {
    name: "skipReadFence",
    rule: "a reader never reads before its fence",
    seed: 1,
    caughtBy: /bank: wrong-total/,
  },
  {
    name: "cdcIgnoresUndecided",
    rule: "CDC never emits version c while an undecided prepare <= c is known",
    seed: 3,
    caughtBy: /cdc: the copy's bank total is/,
  },
  {
    name: "recoveryDropsLocks",
    rule: "a recovered server replays to the same state it had",
    seed: 1,
    caughtBy: /recovery: kv\d partition \d+ restored from its checkpoint/,
  },
];
