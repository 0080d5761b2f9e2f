// Membership changes: every change type, every refusal, and the quorum-intersection rule
// (q_old + q_new > |M_old ∪ M_new|) that keeps an old and a new majority from deciding apart.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  applyChange,
  type ConfigChange,
  decodeConfig,
  encodeConfig,
  initialConfig,
  isLearner,
  isMember,
  quorum,
  replicasOf,
} from "./member-config.ts";
import type { MemberConfig } from "./types.ts";

const V = { pid: 3, seq: 7 };

function apply(old: MemberConfig, change: ConfigChange): MemberConfig {
  const out = applyChange(old, change, V);
  if (typeof out === "string") throw new Error(`refused ${JSON.stringify(change)}: ${out}`);
  return out;
}

describe("member-config", () => {
  const base = initialConfig(["a", "b", "c"], ["l"]);

  it("initialConfig: members, learners, replicaNum = member count, version (0,0)", () => {
    expect(base).toEqual({
      version: { pid: 0, seq: 0 },
      members: ["a", "b", "c"],
      learners: ["l"],
      replicaNum: 3,
    });
    expect(quorum(base)).toBe(2);
    expect(quorum(initialConfig(["a", "b", "c", "d", "e"]))).toBe(3);
    expect(quorum(initialConfig(["a", "b", "c", "d"]))).toBe(3);
    expect(isMember(base, "a")).toBe(true);
    expect(isMember(base, "l")).toBe(false);
    expect(isLearner(base, "l")).toBe(true);
    expect(replicasOf(base)).toEqual(["a", "b", "c", "l"]);
  });

  it("addMember adds a voter and raises replicaNum", () => {
    const c = apply(base, { type: "addMember", id: "d" });
    expect(c.members).toEqual(["a", "b", "c", "d"]);
    expect(c.replicaNum).toBe(4);
    expect(c.version).toEqual(V);
    expect(quorum(c)).toBe(3);
  });

  it("removeMember drops a voter and lowers replicaNum", () => {
    const c = apply(initialConfig(["a", "b", "c", "d"]), { type: "removeMember", id: "b" });
    expect(c.members).toEqual(["a", "c", "d"]);
    expect(c.replicaNum).toBe(3);
  });

  it("addLearner / removeLearner leave the voters and the quorum alone", () => {
    const c = apply(base, { type: "addLearner", id: "m" });
    expect(c.learners).toEqual(["l", "m"]);
    expect(c.members).toEqual(base.members);
    expect(c.replicaNum).toBe(3);
    const d = apply(c, { type: "removeLearner", id: "l" });
    expect(d.learners).toEqual(["m"]);
    expect(d.replicaNum).toBe(3);
  });

  it("promoteLearner makes a learner a voter; demoteMember the reverse", () => {
    const c = apply(base, { type: "promoteLearner", id: "l" });
    expect(c.members).toEqual(["a", "b", "c", "l"]);
    expect(c.learners).toEqual([]);
    expect(c.replicaNum).toBe(4);
    const d = apply(c, { type: "demoteMember", id: "a" });
    expect(d.members).toEqual(["b", "c", "l"]);
    expect(d.learners).toEqual(["a"]);
    expect(d.replicaNum).toBe(3);
  });

  it("setReplicaNum changes the quorum only", () => {
    const c = apply(base, { type: "setReplicaNum", replicaNum: 5 });
    expect(c.replicaNum).toBe(5);
    expect(quorum(c)).toBe(3);
    expect(c.members).toEqual(base.members);
  });

  it("does not mutate the old config", () => {
    const before = JSON.stringify(base);
    apply(base, { type: "promoteLearner", id: "l" });
    apply(base, { type: "addMember", id: "x" });
    expect(JSON.stringify(base)).toBe(before);
  });

  it.each<[string, MemberConfig, ConfigChange, RegExp]>([
    ["add an existing member", base, { type: "addMember", id: "a" }, /already/],
    ["add a learner as member", base, { type: "addMember", id: "l" }, /already/],
    ["add a member as learner", base, { type: "addLearner", id: "b" }, /already/],
    ["remove a non-member", base, { type: "removeMember", id: "z" }, /not a member/],
    ["remove a learner as member", base, { type: "removeMember", id: "l" }, /not a member/],
    ["remove a non-learner", base, { type: "removeLearner", id: "a" }, /not a learner/],
    ["promote a non-learner", base, { type: "promoteLearner", id: "a" }, /not a learner/],
    ["demote a non-member", base, { type: "demoteMember", id: "l" }, /not a member/],
    ["replicaNum 0", base, { type: "setReplicaNum", replicaNum: 0 }, /positive integer/],
    ["replicaNum 2.5", base, { type: "setReplicaNum", replicaNum: 2.5 }, /positive integer/],
    [
      "replicaNum below the member count",
      base,
      { type: "setReplicaNum", replicaNum: 2 },
      /below the member count/,
    ],
    [
      "too few members for the replicaNum's quorum",
      { ...initialConfig(["a", "b", "c"]), replicaNum: 5 },
      { type: "removeMember", id: "a" },
      /only 2 members for a quorum of 3/,
    ],
  ])("refuses to %s", (_what, old, change, why) => {
    const out = applyChange(old, change, V);
    expect(typeof out).toBe("string");
    expect(out as string).toMatch(why);
  });

  it("refuses a replicaNum change whose quorums would not intersect (q_old + q_new <= |union|)", () => {
    // A config whose replicaNum is below its member count (q_old = 1 of 3): raising it to 3 gives q_new = 2,
    // and 1 + 2 <= 3 means a lone old voter and two new ones could decide apart.
    const broken: MemberConfig = {
      version: { pid: 1, seq: 1 },
      members: ["a", "b", "c"],
      learners: [],
      replicaNum: 1,
    };
    const out = applyChange(broken, { type: "setReplicaNum", replicaNum: 3 }, V);
    expect(out).toMatch(/would not intersect \(1 \+ 2 <= 3\)/);
  });

  it("every accepted change from a valid config keeps old and new quorums intersecting (property, seed 20240501)", () => {
    const ids = ["a", "b", "c", "d", "e", "f", "g"];
    const config = fc
      .tuple(fc.subarray(ids, { minLength: 1 }), fc.subarray(ids), fc.nat(3))
      .map(([members, learnerPool, extra]): MemberConfig => {
        const learners = learnerPool.filter((l) => !members.includes(l));
        return { version: { pid: 1, seq: 1 }, members, learners, replicaNum: members.length + extra };
      })
      .filter((c) => c.members.length >= quorum(c));
    const change = fc.oneof(
      fc.record({
        type: fc.constantFrom(
          "addMember",
          "removeMember",
          "addLearner",
          "removeLearner",
          "promoteLearner",
          "demoteMember",
        ) as fc.Arbitrary<Exclude<ConfigChange["type"], "setReplicaNum">>,
        id: fc.constantFrom(...ids),
      }) as fc.Arbitrary<ConfigChange>,
      fc.record({
        type: fc.constant("setReplicaNum" as const),
        replicaNum: fc.integer({ min: -1, max: 12 }),
      }),
    );
    fc.assert(
      fc.property(config, change, (old, ch) => {
        const next = applyChange(old, ch, V);
        if (typeof next === "string") return true;
        const union = new Set([...old.members, ...next.members]).size;
        expect(quorum(old) + quorum(next), JSON.stringify({ old, ch, next })).toBeGreaterThan(union);
        expect(next.members.length).toBeGreaterThanOrEqual(quorum(next));
        expect(next.replicaNum).toBeGreaterThanOrEqual(next.members.length);
        // Nobody is both a member and a learner.
        expect(next.members.filter((m) => next.learners.includes(m))).toEqual([]);
        return true;
      }),
      { numRuns: 500, seed: 20240501 },
    );
  });

  it("encodeConfig / decodeConfig round trip; malformed config entries throw", () => {
    const c = apply(base, { type: "addMember", id: "d" });
    expect(decodeConfig(encodeConfig(c))).toEqual(c);
    const enc = (x: unknown) => new TextEncoder().encode(JSON.stringify(x));
    expect(() => decodeConfig(enc({ ...c, members: "abc" }))).toThrow(/malformed/);
    expect(() => decodeConfig(enc({ ...c, members: [1, 2] }))).toThrow(/malformed/);
    expect(() => decodeConfig(enc({ ...c, replicaNum: 1.5 }))).toThrow(/malformed/);
    expect(() => decodeConfig(enc({ ...c, version: { pid: 1 } }))).toThrow(/malformed/);
    expect(() => decodeConfig(new TextEncoder().encode("{not json"))).toThrow();
  });
});
