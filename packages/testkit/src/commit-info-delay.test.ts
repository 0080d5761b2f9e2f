import { describe, expect, it } from "vitest";
import { runChaos } from "./chaos.ts";
import { drawCommitInfoDelayMs } from "./commit-info-delay.ts";

describe("commit-info delay drawn per seed", () => {
  it("each seed draws the same delay every time, and seeds 1..200 cover 0, 1-10, 11-99 and 100 ms", () => {
    const drawn = Array.from({ length: 200 }, (_, i) => drawCommitInfoDelayMs(i + 1));
    expect(drawn).toEqual(Array.from({ length: 200 }, (_, i) => drawCommitInfoDelayMs(i + 1)));
    expect(drawn.every((d) => Number.isInteger(d) && d >= 0 && d <= 100)).toBe(true);
    expect(drawn.filter((d) => d === 0).length).toBeGreaterThan(20);
    expect(drawn.filter((d) => d >= 1 && d <= 10).length).toBeGreaterThan(20);
    expect(drawn.filter((d) => d >= 11 && d <= 99).length).toBeGreaterThan(20);
    expect(drawn.filter((d) => d === 100).length).toBeGreaterThan(20);
  });

  it("a core run pinned to its seed's delay replays the unpinned run exactly; another delay reaches the replicas", () => {
    const seed = 4; // draws 100 ms
    const opts = { seed, groups: 3, replicas: 3 as const, steps: 150 };
    const drawn = runChaos(opts);
    expect(drawn.commitInfoDelayMs).toBe(drawCommitInfoDelayMs(seed));
    expect(runChaos({ ...opts, replica: { commitInfoDelayMs: drawn.commitInfoDelayMs } })).toEqual(drawn);
    const atOnce = runChaos({ ...opts, replica: { commitInfoDelayMs: 0 } });
    expect(atOnce.commitInfoDelayMs).toBe(0);
    expect(atOnce.events).not.toBe(drawn.events);
    expect([drawn.violations, atOnce.violations]).toEqual([[], []]);
  });
});
