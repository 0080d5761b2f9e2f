// A simulator-sized history must be decided, not abandoned: ~2,000 ops over 10 groups with up to 8
// clients in flight per group finish "ok" well inside the default step budget. Steps, not wall-clock time,
// are the measure, so a slow shared machine cannot make this flaky.
import { Prng } from "@palf/core";
import { describe, expect, it } from "vitest";
import { injectAnomaly } from "./history-anomalies.ts";
import { analyzeHistory } from "./history-checker.ts";
import { checkLinearizability, DEFAULT_STEP_BUDGET } from "./linearizability.ts";
import { randomHistory } from "./random-history.ts";

describe("performance sanity", () => {
  it.each([11, 12])("2,000 ops, 10 groups, 8 concurrent clients per group (seed %i)", (seed) => {
    const ops = randomHistory({ seed, groups: 10, clientsPerGroup: 8, opsPerClient: 25 });
    expect(ops.length).toBeGreaterThanOrEqual(2000);
    const report = analyzeHistory(ops);
    expect(report.violations).toEqual([]);
    expect(report.linearizability.map((r) => r.result)).toEqual(Array(10).fill("ok"));
    // Each group's part is ~200 ops; a search that needs a tenth of the budget has gone wrong somewhere.
    for (const r of report.linearizability) expect(r.steps).toBeLessThan(DEFAULT_STEP_BUDGET / 10);
    // The history must exercise what makes the search hard: unknown outcomes and linearizable reads.
    expect(report.summary.indeterminate.committed + report.summary.unanswered.committed).toBeGreaterThan(50);
    expect(report.summary.linearizableReads).toBeGreaterThan(300);
  });

  it.each([11, 12])(
    "a stale linearizable read in such a history is found, not given up on (seed %i)",
    (seed) => {
      // Proving a violation means exhausting every order, which is where a search without pruning gets lost.
      const ops = randomHistory({ seed, groups: 10, clientsPerGroup: 8, opsPerClient: 25 });
      const broken = injectAnomaly(ops, "staleLinearizableRead", new Prng(seed))!;
      const results = checkLinearizability(broken);
      expect(results.filter((r) => r.result === "violation")).toHaveLength(1);
      expect(results.filter((r) => r.result !== "ok" && r.result !== "violation")).toEqual([]);
      for (const r of results) expect(r.steps).toBeLessThan(DEFAULT_STEP_BUDGET / 5);
    },
  );
});
