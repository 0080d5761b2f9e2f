// Rule "Clocks are monotonic clocks" (DESIGN.md): leases, elections and timers run on the runtime's clock, so
// a wall-clock step (NTP, an operator) must not move it. A runtime reading Date.now() fails here.
import { afterEach, describe, expect, it, vi } from "vitest";
import { realRuntime } from "./runtime.ts";

describe("real runtime clock", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("does not follow the wall clock when it is stepped back or forward", () => {
    const before = realRuntime.now();
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() - 3_600_000);
    const afterBack = realRuntime.now();
    expect(afterBack).toBeGreaterThanOrEqual(before);
    vi.setSystemTime(Date.now() + 7_200_000);
    expect(realRuntime.now() - afterBack).toBeLessThan(60_000);
  });
});
