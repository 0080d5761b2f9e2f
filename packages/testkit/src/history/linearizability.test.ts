// Linearizability depends on overlap: an op may take effect anywhere inside its call..return window, so a
// read that overlaps an append may or may not see it, and one that starts after the append returned must.
import { describe, expect, it } from "vitest";
import { analyzeHistory, checkHistory } from "./history-checker.ts";
import { HistoryScript } from "./history-script.ts";
import { checkLinearizability } from "./linearizability.ts";
import { type Model, searchLinearization, type TimedOp } from "./linearization-search.ts";

const results = (h: HistoryScript) => checkLinearizability(h.ops).map((r) => r.result);

describe("linearizable reads", () => {
  it("a read overlapping an append may see it or not", () => {
    const seen = new HistoryScript()
      .append(1, "a", 0, 10, [10, 1])
      .read(2, 5, 6, { from: 0, entries: [[10, 1, "a"]], committedEnd: 11 });
    const notSeen = new HistoryScript()
      .append(1, "a", 0, 10, [10, 1])
      .read(2, 5, 6, { from: 0, entries: [], committedEnd: 10 });
    expect(results(seen)).toEqual(["ok"]);
    expect(results(notSeen)).toEqual(["ok"]);
  });

  it("a read that starts after the append returned must see it", () => {
    const h = new HistoryScript()
      .append(1, "a", 0, 10, [10, 1])
      .read(2, 11, 12, { from: 0, entries: [], committedEnd: 10 });
    const [r] = checkLinearizability(h.ops);
    expect(r).toMatchObject({ result: "violation", group: 1, ops: [0, 1] });
    expect(r!.detail).toMatch(
      /^group 1 is not linearizable: op #1 \(client 2, linearizable read.*after .*op #0/,
    );
    // The same stale answer from a lagging replica is allowed.
    const lagging = new HistoryScript()
      .append(1, "a", 0, 10, [10, 1])
      .read(2, 11, 12, { from: 0, entries: [], committedEnd: 10, linearizable: false });
    expect(checkHistory(lagging.ops)).toEqual([]);
  });

  it("a stale linearizable read after a committed ack fails checkHistory too", () => {
    const h = new HistoryScript()
      .append(1, "a", 0, 5, [10, 1])
      .read(2, 6, 7, { from: 20, entries: [], committedEnd: 10 });
    expect(checkHistory(h.ops)).toEqual([expect.stringMatching(/^group 1 is not linearizable: op #1/)]);
  });

  it("once one read saw an append, a read that starts later must see it too", () => {
    const h = new HistoryScript()
      .append(1, "a", 0, 20, [10, 1])
      .read(2, 5, 6, { from: 0, entries: [[10, 1, "a"]], committedEnd: 11 })
      .read(3, 7, 8, { from: 0, entries: [], committedEnd: 10 });
    expect(results(h)).toEqual(["violation"]);
    const concurrentReads = new HistoryScript()
      .append(1, "a", 0, 20, [10, 1])
      .read(2, 5, 8, { from: 0, entries: [[10, 1, "a"]], committedEnd: 11 })
      .read(3, 6, 7, { from: 0, entries: [], committedEnd: 10 });
    expect(results(concurrentReads)).toEqual(["ok"]);
  });

  it("appends commit in LSN order: a read cannot see a higher LSN without the lower one", () => {
    const h = new HistoryScript()
      .append(1, "a", 0, 10, [20, 2])
      .append(2, "b", 0, 10, [10, 1])
      .read(3, 3, 4, { from: 0, entries: [[20, 2, "a"]], committedEnd: 21 });
    expect(results(h)).toEqual(["violation"]);
  });

  it("a read's committed end bounds later appends", () => {
    const h = new HistoryScript()
      .read(3, 0, 1, { from: 40, entries: [], committedEnd: 50 })
      .append(1, "a", 2, 10, [10, 1]);
    expect(results(h)).toEqual(["violation"]);
  });
});

describe("appends with unknown outcome", () => {
  it("may take effect long after the client heard indeterminate, but then stays", () => {
    const h = new HistoryScript()
      .append(1, "a", 0, 2, "indeterminate")
      .read(2, 3, 4, { from: 0, entries: [], committedEnd: 10 })
      .read(2, 10, 11, { from: 0, entries: [[10, 1, "a"]], committedEnd: 11 });
    expect(results(h)).toEqual(["ok"]);
    h.read(2, 12, 13, { from: 20, entries: [], committedEnd: 10 });
    expect(results(h)).toEqual(["violation"]);
  });

  it("may never take effect", () => {
    const h = new HistoryScript()
      .unanswered(1, "a", 0)
      .append(1, "b", 1, 2, "indeterminate")
      .read(2, 10, 11, { from: 0, entries: [], committedEnd: 100 });
    expect(results(h)).toEqual(["ok"]);
  });

  it("a retry the leader recognised is one entry; a second LSN for the session is not", () => {
    const session = { id: 4, seq: 1 };
    const h = new HistoryScript()
      .append(1, "a", 0, 2, "indeterminate", { session })
      .append(1, "a", 3, 6, [10, 1], { session })
      .read(2, 7, 8, { from: 0, entries: [[10, 1, "a"]], committedEnd: 11 });
    expect(results(h)).toEqual(["ok"]);
    const twice = new HistoryScript()
      .append(1, "a", 0, 2, [10, 1], { session })
      .append(1, "a", 3, 6, [20, 2], { session });
    expect(results(twice)).toEqual(["violation"]);
  });

  it("a failed append takes no effect", () => {
    const h = new HistoryScript()
      .append(1, "a", 0, 2, "failed")
      .read(2, 3, 4, { from: 0, entries: [[10, 1, "a"]], committedEnd: 11 });
    expect(results(h)).toEqual(["violation"]);
  });
});

describe("the search itself", () => {
  it("says unknown, not violation, when the step budget runs out", () => {
    const h = new HistoryScript();
    for (let i = 0; i < 8; i++) h.append(i, `p${i}`, 0, 100, [i * 10, i]);
    h.read(9, 101, 102, { from: 0, entries: [], committedEnd: 0 });
    const [r] = checkLinearizability(h.ops, { stepBudget: 5 });
    expect(r).toMatchObject({ result: "unknown", steps: 6 });
    const report = analyzeHistory(h.ops, { stepBudget: 5, linearizability: true });
    expect(report.violations.filter((v) => v.includes("linearizable"))).toEqual([]);
    expect(report.summary.linearizability).toEqual({ ok: 0, violation: 0, unknown: 1 });
  });

  it("checks any model: a register read 1 then 0 after a single write of 1 is not linearizable", () => {
    const register: Model<number, { write?: number }, { read?: number }> = {
      init: () => 0,
      step: (s, i, o) => (i.write !== undefined ? i.write : o.read === s ? s : undefined),
      hash: (s) => s,
      equal: (a, b) => a === b,
    };
    const op = (id: number, call: number, ret: number, write?: number, read?: number) =>
      ({
        id,
        call,
        ret,
        input: write === undefined ? {} : { write },
        output: read === undefined ? {} : { read },
      }) as TimedOp<{ write?: number }, { read?: number }>;
    const write = op(0, 0, 10, 1);
    expect(
      searchLinearization(register, [write, op(1, 2, 3, undefined, 0), op(2, 4, 5, undefined, 1)], 1000),
    ).toMatchObject({
      result: "ok",
    });
    expect(
      searchLinearization(register, [write, op(1, 2, 3, undefined, 1), op(2, 4, 5, undefined, 0)], 1000),
    ).toMatchObject({
      result: "violation",
      blocked: 2,
    });
    // A write that never returned may have happened, or not.
    const pending = op(0, 0, Number.POSITIVE_INFINITY, 1);
    expect(searchLinearization(register, [pending, op(1, 2, 3, undefined, 0)], 1000).result).toBe("ok");
    expect(searchLinearization(register, [pending, op(1, 2, 3, undefined, 1)], 1000).result).toBe("ok");
  });
});
