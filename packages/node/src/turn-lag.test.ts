import { describe, expect, it } from "vitest";
import { TurnLag } from "./turn-lag.ts";

describe("TurnLag: the node's measure of slow loop turns", () => {
  it("reports nothing while turns are short, a slow turn at once, and forgets it over later fast turns", () => {
    const lag = new TurnLag();
    for (let i = 0; i < 100; i++) lag.turnTook(5);
    expect(lag.lagMs()).toBe(0);
    lag.turnTook(347);
    expect(lag.lagMs()).toBe(340);
    lag.turnTook(3);
    expect(lag.lagMs()).toBe(310);
    for (let i = 0; i < 60; i++) lag.turnTook(3);
    expect(lag.lagMs()).toBe(0);
  });

  it("a clock that stepped back during a turn counts as a turn that took no time", () => {
    const lag = new TurnLag();
    lag.turnTook(-5000);
    expect(lag.lagMs()).toBe(0);
  });
});
