// Seeded chaos: random appends, crashes and restarts, partitions, lossy / duplicating / corrupting links,
// membership changes, leader transfers, priority changes and recycling, then a healing phase. Every safety
// checker runs throughout; the seed is in every failure message, and replays with
// `pnpm sim --seeds 1 --start <seed> --groups G --replicas R --steps S`.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { runChaos, type SeedReport } from "./chaos.ts";

function explain(r: SeedReport, groups: number, replicas: number, steps: number): string {
  return (
    `seed ${r.seed}: ${r.violations.length} violation(s)\n  ${r.violations.slice(0, 5).join("\n  ")}\n` +
    `  replay: pnpm sim --seeds 1 --start ${r.seed} --groups ${groups} --replicas ${replicas} --steps ${steps}`
  );
}

describe("chaos: no safety violation for any seed", () => {
  it("3 replicas, 2 groups, 150 steps (fast-check seeds, fc seed 1337)", () => {
    let committed = 0;
    let failed = 0;
    let elections = 0;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const r = runChaos({ seed, groups: 2, replicas: 3, steps: 150 });
        expect(r.violations, explain(r, 2, 3, 150)).toEqual([]);
        committed += r.committed;
        failed += r.failed;
        elections += r.elections;
      }),
      { numRuns: 40, seed: 1337 },
    );
    // The runs must have done something worth checking.
    expect(committed).toBeGreaterThan(40 * 10);
    expect(elections).toBeGreaterThan(40 * 2);
  });

  it("5 replicas, 2 groups, 150 steps (fast-check seeds, fc seed 4242)", () => {
    let committed = 0;
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), (seed) => {
        const r = runChaos({ seed, groups: 2, replicas: 5, steps: 150 });
        expect(r.violations, explain(r, 2, 5, 150)).toEqual([]);
        committed += r.committed;
      }),
      { numRuns: 20, seed: 4242 },
    );
    expect(committed).toBeGreaterThan(20 * 10);
  });

  it("consecutive seeds 1..30, 3 groups, 300 steps (the `pnpm sim` defaults)", () => {
    for (let seed = 1; seed <= 30; seed++) {
      const r = runChaos({ seed, groups: 3, replicas: 3, steps: 300 });
      expect(r.violations, explain(r, 3, 3, 300)).toEqual([]);
    }
  });
});

describe("chaos: determinism", () => {
  it("a seed replays identically (seed 987654)", () => {
    const a = runChaos({ seed: 987654, groups: 2, replicas: 3, steps: 200 });
    const b = runChaos({ seed: 987654, groups: 2, replicas: 3, steps: 200 });
    expect(b, "seed 987654 replayed differently").toEqual(a);
    expect(a.events).toBeGreaterThan(1000);
    expect(a.appends).toBeGreaterThan(0);
  });

  it("a 5-replica seed replays identically, and different seeds differ (seed 31337)", () => {
    const a = runChaos({ seed: 31337, groups: 1, replicas: 5, steps: 150 });
    const b = runChaos({ seed: 31337, groups: 1, replicas: 5, steps: 150 });
    const c = runChaos({ seed: 31338, groups: 1, replicas: 5, steps: 150 });
    expect(b, "seed 31337 replayed differently").toEqual(a);
    expect({ ...c, seed: a.seed }).not.toEqual(a);
  });
});
