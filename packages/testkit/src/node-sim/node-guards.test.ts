/**
 * Guard tests of the node layer: each NodeUnsafeSwitches switch breaks one rule the way a naive node runtime
 * would, and the whole-node simulator must catch it within a bounded seed range. For each switch the table
 * names the checker that catches it and the first catching seed found by searching from seed 1 (the range
 * searched is 1..first). `endToEnd` is the first seed caught with the white-box recovery check turned off,
 * i.e. by what clients see (history, linearizability, liveness) or by the lease check alone. Each test
 * replays those seeds with the switch on (caught) and the first one with it off (clean), so a change that
 * blinds the simulator to a breach fails here. Seeds move when the chaos driver or the clients change (they
 * all moved when the clients became real SDK clients, sim-clients.ts, and again when each seed drew its
 * commit-info delay, commit-info-delay.ts): search again with `pnpm sim:node --seeds 100 --membership never
 * --unsafe <switch>` (add `--no-recovery-check` for the end-to-end column). The seeds run with the delay they
 * draw (named in each test's title): every guard here catches with a delay as well as without one.
 */
import { readFileSync } from "node:fs";
import { type NodeUnsafeSwitches, nodeUnsafeSwitchNames } from "@palf/node";
import { describe, expect, it } from "vitest";
import { drawCommitInfoDelayMs } from "../commit-info-delay.ts";
import { switchesTurnedOn } from "../guards/switches-turned-on.test-support.ts";
import { runNodeChaos } from "./node-chaos.ts";

interface Guard {
  readonly name: keyof NodeUnsafeSwitches;
  /** First seed caught with every check on, and what caught it. */
  readonly seed: number;
  readonly caughtBy: RegExp;
  /** First seed caught with the recovery check off, and what caught it. */
  readonly endToEnd: number;
  readonly endToEndBy: RegExp;
}

export const NODE_GUARDS: readonly Guard[] = [
  {
    name: "durableOnSubmit",
    seed: 5,
    caughtBy: /recovery: .* had made its log durable/,
    endToEnd: 7,
    endToEndBy: /history: .*did not return the entry committed there/,
  },
  {
    name: "durableFromLaterFlush",
    seed: 3,
    caughtBy: /recovery: .* had made its log durable/,
    // A read that did not return what was committed there (before the SDK clients: a group left leaderless).
    endToEnd: 43,
    endToEndBy: /history: group \d+ lsn \d+: |liveness: group \d+ has no leader/,
  },
  {
    name: "forgetPromiseOnRecovery",
    seed: 1,
    caughtBy: /recovery: .* had durably promised pid/,
    endToEnd: 19,
    endToEndBy: /liveness: group \d+ has no leader/,
  },
  {
    name: "hubLeaseFromAck",
    seed: 1,
    caughtBy: /lease safety: .* both lead group/,
    endToEnd: 1,
    endToEndBy: /lease safety: .* both lead group/,
  },
  {
    name: "skipSegmentDirFsync",
    seed: 1,
    caughtBy: /recovery: .* had made its log durable/,
    // Seed 3 stopped catching end to end when elections came to stretch with slow turns and leases to rest
    // on the node's hub; searched again from 1 with the history regex below.
    endToEnd: 14,
    endToEndBy: /history: .*did not return the entry committed there/,
  },
  {
    // The failed fdatasync dropped the batch's pages; the retry "succeeds". A later crash leaves a hole that
    // recovery refuses (a bad record followed by good ones), so the node never comes back. Caught only where
    // an injected EIO lands on an fdatasync. It once stopped catching at its known seeds with a 100 ms delay:
    // the delay changes every message's timing, so a seed is another run, and the only injection then failed
    // the next I/O of any kind, usually a write (an fdatasync only if one was in flight): few runs caught it.
    // Now half the injections fail the next fdatasync (failNextSync), the rest the next I/O (failNextIo).
    name: "retryFailedSync",
    seed: 2,
    caughtBy: /fdatasync retried on a file whose fsync already failed/,
    endToEnd: 2,
    endToEndBy: /failed to start: WalError: CORRUPT/,
  },
  {
    name: "answerBeforeCommit",
    seed: 1,
    caughtBy: /history: group \d+ is not linearizable/,
    endToEnd: 1,
    endToEndBy: /history: group \d+ is not linearizable/,
  },
  {
    // Seeds with a disk budget (about a third) only; clients see the groups that left service never come back.
    name: "assignBeyondBudget",
    seed: 5,
    caughtBy: /disk budget: .* left service: the WAL refused a batch over its budget/,
    endToEnd: 5,
    endToEndBy: /liveness: /,
  },
];

/**
 * Switches the simulator does not catch within a quick seed search (the breach needs a timing it rarely
 * draws), guarded by a unit test instead: the named test file must turn the switch on in a live test.
 */
const UNIT_GUARDS: readonly { readonly name: keyof NodeUnsafeSwitches; readonly file: string }[] = [
  // Not caught by seeds 1-450 (--membership never) nor 1-50 (membership random): with 3 groups a refusal
  // rarely overlaps a second one, and no set is big enough to travel in parts.
  { name: "hubRecountRefused", file: "packages/node/src/lease-hub.test.ts" },
];

describe("node-layer rule guards (whole-node simulator)", () => {
  it("every NodeUnsafeSwitches field has a guard here, or a live unit guard that turns it on", () => {
    const guarded = new Set(NODE_GUARDS.map((g) => g.name));
    for (const u of UNIT_GUARDS) {
      const source = readFileSync(new URL(`../../../../${u.file}`, import.meta.url), "utf8");
      if (switchesTurnedOn(source, u.file).has(u.name)) guarded.add(u.name);
    }
    expect(nodeUnsafeSwitchNames.filter((n) => !guarded.has(n))).toEqual([]);
  });

  for (const g of NODE_GUARDS) {
    const delays = `commit-info delay ${drawCommitInfoDelayMs(g.seed)} / ${drawCommitInfoDelayMs(g.endToEnd)} ms`;
    it(`${g.name}: caught at seed ${g.seed}, end to end at seed ${g.endToEnd} (${delays}); clean with the switch off`, {
      timeout: 300_000,
    }, async () => {
      const unsafe: NodeUnsafeSwitches = { [g.name]: true };
      // The seeds were found before membership changes joined the chaos; those would reshape these runs.
      const membership = "never";
      const caught = await runNodeChaos({ seed: g.seed, unsafe, membership });
      expect(
        caught.violations.some((v) => g.caughtBy.test(v)),
        caught.violations.slice(0, 3).join("\n"),
      ).toBe(true);
      const e2e = await runNodeChaos({ seed: g.endToEnd, unsafe, recoveryCheck: false, membership });
      expect(
        e2e.violations.some((v) => g.endToEndBy.test(v)),
        e2e.violations.slice(0, 3).join("\n"),
      ).toBe(true);
      const clean = await runNodeChaos({ seed: g.seed, membership });
      expect(clean.violations).toEqual([]);
    });
  }
});
