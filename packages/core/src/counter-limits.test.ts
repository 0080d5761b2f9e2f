import { describe, expect, it } from "vitest";
import { baseProblem } from "./base-check.ts";
import { MAX_COUNTER } from "./counter-limits.ts";
import { messageProblem } from "./message-check.ts";

const env = { group: 7, inc: 1, from: "n1", to: "n2" };

describe("peer messages carry only counters a replica can move past", () => {
  it("refuses a prepare with pid 2^53 - 1 (the forged promise that left a group leaderless for good)", () => {
    expect(messageProblem({ ...env, type: "prepare", pid: Number.MAX_SAFE_INTEGER })).toBe("bad prepare");
    expect(messageProblem({ ...env, type: "prepare", pid: MAX_COUNTER + 1 })).toBe("bad prepare");
    expect(messageProblem({ ...env, type: "prepare", pid: MAX_COUNTER })).toBeUndefined();
  });

  it("refuses ballots, acks and votes with counters above 2^52", () => {
    const big = MAX_COUNTER + 1;
    expect(messageProblem({ ...env, type: "timeoutNow", ballot: big })).toBeDefined();
    expect(
      messageProblem({
        ...env,
        type: "ack",
        pid: big,
        ok: true,
        end: 0,
        committedEnd: 0,
        retryFrom: 0,
        promised: 0,
      }),
    ).toBeDefined();
    const vote = {
      ...env,
      type: "vote",
      ballot: 1,
      priority: 1,
      seq: big,
      renew: false,
      cfg: { pid: 0, seq: 0 },
    };
    expect(messageProblem(vote)).toBeDefined();
  });

  it("refuses group ids the WAL cannot store", () => {
    expect(messageProblem({ ...env, group: 2 ** 32, type: "prepare", pid: 1 })).toBe("bad envelope");
    expect(messageProblem({ ...env, group: 2 ** 32 - 1, type: "prepare", pid: 1 })).toBeUndefined();
  });

  it("refuses a base whose config lists a node twice", () => {
    const base = (members: string[], learners: string[]) => ({
      lsn: 0,
      pid: 1,
      accum: 0,
      csn: 0,
      config: { version: { pid: 1, seq: 1 }, members, learners, replicaNum: members.length },
    });
    expect(baseProblem(base(["n1", "n1", "n2"], []))).toMatch(/twice/);
    expect(baseProblem(base(["n1", "n2"], ["n2"]))).toMatch(/twice/);
    expect(baseProblem(base(["n1", "n2", "n3"], ["n4"]))).toBeUndefined();
  });
});
