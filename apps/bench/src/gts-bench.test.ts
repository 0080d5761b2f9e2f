import { describe, expect, it } from "vitest";
import { realTimeViolations } from "./gts-bench.ts";

describe("the GTS bench's cross-process order check", () => {
  it("accepts overlapping calls in any order and calls ordered in real time with rising timestamps", () => {
    // (asked, answered, ts): the first two overlap, so either may get the smaller value.
    const a = [0, 10, 7, 20, 30, 9];
    const b = [5, 12, 6, 31, 40, 11];
    expect(realTimeViolations([a, b])).toBe(0);
  });

  it("counts a call asked after another was answered that got a timestamp not above it, across processes", () => {
    const a = [0, 10, 7];
    const b = [11, 15, 7, 16, 20, 3];
    expect(realTimeViolations([a, b])).toBe(2);
  });
});
