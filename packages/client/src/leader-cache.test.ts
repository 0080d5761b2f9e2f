import { describe, expect, it } from "vitest";
import { LeaderCache } from "./leader-cache.ts";

describe("LeaderCache", () => {
  it("walks the seed list while the leader is unknown", () => {
    const c = new LeaderCache(["a", "b", "c"]);
    expect(c.target(1)).toBe("a");
    c.suspect(1, "a");
    expect(c.target(1)).toBe("b");
    c.suspect(1, "a"); // a repeated report about a node already passed changes nothing
    expect(c.target(1)).toBe("b");
    c.suspect(1, "b");
    c.suspect(1, "c");
    expect(c.target(1)).toBe("a");
  });

  it("orders events by pid; a hint beats events of the pid it saw", () => {
    const c = new LeaderCache(["a", "b", "c"]);
    c.onLeaderEvent(1, "b", 5);
    c.onLeaderEvent(1, "a", 4);
    expect(c.leader(1)).toBe("b");
    c.onHint(1, "c");
    c.onLeaderEvent(1, "b", 5);
    expect(c.leader(1)).toBe("c");
    c.onLeaderEvent(1, "a", 6);
    expect(c.leader(1)).toBe("a");
  });

  it("forgets a suspected leader but keeps its pid", () => {
    const c = new LeaderCache(["a", "b"]);
    c.onLeaderEvent(1, "x", 3);
    expect(c.target(1)).toBe("x");
    c.suspect(1, "x");
    expect(c.leader(1)).toBeUndefined();
    expect(c.target(1)).toBe("a");
    c.onLeaderEvent(1, "x", 2);
    expect(c.leader(1)).toBeUndefined();
  });

  it("is bounded", () => {
    const c = new LeaderCache(["a"], 2);
    c.onLeaderEvent(1, "x", 1);
    c.onLeaderEvent(2, "y", 1);
    c.onLeaderEvent(3, "z", 1);
    expect(c.leader(1)).toBeUndefined();
    expect(c.leader(3)).toBe("z");
  });
});
