// The history rules must be able to fail: each test feeds a hand-written history that breaks one rule and
// expects it named (group, LSN, op); clean histories must pass. Non-linearizable reads are used where the
// point is the per-LSN rules, so the linearizability search is not what catches them.
import { describe, expect, it } from "vitest";
import { analyzeHistory, checkHistory } from "./history-checker.ts";
import { HistoryScript } from "./history-script.ts";

const lagging = { linearizable: false } as const;

describe("checkHistory: clean histories", () => {
  it("passes appends, lagging and linearizable reads, internal-entry gaps and uncertain appends", () => {
    const h = new HistoryScript()
      .append(1, "a", 0, 5, [10, 100])
      .append(2, "b", 1, 6, [30, 101]) // LSN 20..29 holds an internal entry (StartWorking, say)
      .read(3, 7, 8, {
        from: 0,
        entries: [
          [10, 100, "a"],
          [30, 101, "b"],
        ],
        committedEnd: 40,
      })
      .read(4, 7, 9, { from: 0, entries: [[10, 100, "a"]], committedEnd: 20, ...lagging })
      .append(1, "c", 10, 12, "indeterminate")
      .unanswered(2, "d", 10)
      .read(3, 13, 14, {
        from: 30,
        entries: [
          [30, 101, "b"],
          [45, 102, "c"],
        ],
        committedEnd: 50,
      })
      .read(4, 15, 16, { from: 0, entries: [[10, 100, "a"]], committedEnd: 50, next: 11, ...lagging })
      .append(5, "x", 0, 3, [0, 7], { group: 2 })
      .read(5, 4, 5, { from: 0, entries: [[0, 7, "x"]], committedEnd: 8 }, 2);
    const report = analyzeHistory(h.ops);
    expect(report.violations).toEqual([]);
    expect(report.summary).toMatchObject({
      operations: 10,
      groups: 2,
      appends: 5,
      committed: 3,
      reads: 5,
      linearizableReads: 3,
      observedEntries: 4,
      indeterminate: { total: 1, committed: 1, absent: 0, unresolved: 0 },
      unanswered: { total: 1, committed: 0, absent: 1, unresolved: 0 },
      linearizability: { ok: 2, violation: 0, unknown: 0 },
    });
    expect(report.uncertain).toEqual([
      { op: 4, group: 1, answer: "indeterminate", state: "committed", lsn: 45 },
      { op: 5, group: 1, answer: "no answer", state: "absent" },
    ]);
  });

  it("leaves an uncertain append unresolved while reads leave a gap where it could be", () => {
    const h = new HistoryScript()
      .append(1, "a", 0, 2, "indeterminate")
      .read(2, 3, 4, { from: 20, entries: [], committedEnd: 30, ...lagging });
    const report = analyzeHistory(h.ops);
    expect(report.violations).toEqual([]);
    expect(report.summary.indeterminate).toEqual({ total: 1, committed: 0, absent: 0, unresolved: 1 });
  });

  it("accepts a retry the leader recognised: same session, same LSN", () => {
    const session = { id: 9, seq: 1 };
    const h = new HistoryScript()
      .append(1, "a", 0, 2, "indeterminate", { session })
      .append(1, "a", 3, 5, [10, 1], { session })
      .read(2, 6, 7, { from: 0, entries: [[10, 1, "a"]], committedEnd: 11 });
    expect(checkHistory(h.ops)).toEqual([]);
  });
});

describe("checkHistory: each violation is caught", () => {
  it("a committed write missing from a later read that covers its LSN", () => {
    const h = new HistoryScript()
      .append(1, "a", 0, 5, [10, 1])
      .read(2, 6, 7, { from: 0, entries: [], committedEnd: 20, ...lagging });
    expect(checkHistory(h.ops)).toEqual([
      expect.stringMatching(/^group 1 lsn 10: op #1 \(client 2, read .*did not return the entry.*op #0/),
    ]);
  });

  it("a read, even one before the append, that covered the LSN and showed nothing there", () => {
    // Committed LSNs never change: a range a replica reported committed is final, whenever it was read.
    const h = new HistoryScript()
      .read(2, 0, 1, { from: 0, entries: [], committedEnd: 20, ...lagging })
      .append(1, "a", 2, 5, [10, 1]);
    expect(checkHistory(h.ops, { linearizability: false })).toEqual([
      expect.stringMatching(/^group 1 lsn 10: op #0 .*covered lsn 10/),
    ]);
  });

  it("two different entries at one LSN", () => {
    const h = new HistoryScript()
      .append(1, "a", 0, 5, [10, 1])
      .append(2, "b", 0, 5, "indeterminate")
      .read(3, 6, 7, { from: 10, entries: [[10, 1, "b"]], committedEnd: 11, ...lagging });
    expect(checkHistory(h.ops, { linearizability: false })).toEqual([
      expect.stringMatching(
        /^group 1 lsn 10 holds two different entries: session 1:1.*op #0.*session 2:2.*op #2/,
      ),
    ]);
  });

  it("the same bytes with a different CSN at one LSN", () => {
    const h = new HistoryScript()
      .append(1, "a", 0, 5, [10, 1])
      .read(3, 6, 7, { from: 10, entries: [[10, 2, "a"]], committedEnd: 11, ...lagging });
    expect(checkHistory(h.ops)).toContainEqual(expect.stringMatching(/^group 1 lsn 10 holds two different/));
  });

  it("a CSN that does not grow with the LSN", () => {
    const h = new HistoryScript()
      .append(1, "a", 0, 5, [10, 5])
      .append(2, "b", 0, 5, [20, 5])
      .read(3, 6, 7, {
        from: 0,
        entries: [
          [10, 5, "a"],
          [20, 5, "b"],
        ],
        committedEnd: 30,
      });
    expect(checkHistory(h.ops)).toEqual([
      expect.stringMatching(/^group 1 lsn 20: csn 5 \(op #1 .*\) is not above csn 5 at lower lsn 10 \(op #0/),
    ]);
  });

  it("a session committed twice, by two acks", () => {
    const session = { id: 7, seq: 1 };
    const h = new HistoryScript()
      .append(1, "a", 0, 5, [10, 1], { session })
      .append(1, "a", 6, 8, [20, 2], { session });
    const v = checkHistory(h.ops);
    expect(v).toContainEqual(
      expect.stringMatching(/^group 1: session 7:1 committed twice: lsn 10 \(op #0.*lsn 20 \(op #1/),
    );
  });

  it("a session committed twice, as reads show", () => {
    const h = new HistoryScript().append(1, "a", 0, 5, "indeterminate").read(2, 6, 7, {
      from: 0,
      entries: [
        [10, 1, "a"],
        [20, 2, "a"],
      ],
      committedEnd: 30,
      ...lagging,
    });
    expect(checkHistory(h.ops)).toContainEqual(
      expect.stringMatching(/^group 1: session 1:1 committed twice/),
    );
  });

  it("a failed append seen in a read", () => {
    const h = new HistoryScript()
      .append(1, "a", 0, 5, "failed")
      .read(2, 6, 7, { from: 0, entries: [[10, 1, "a"]], committedEnd: 11, ...lagging });
    expect(checkHistory(h.ops)).toEqual([
      expect.stringMatching(
        /^group 1 lsn 10: op #0 \(client 1, append 1:1 -> failed.*committed at lsn 10 \(op #1/,
      ),
    ]);
  });

  it("bytes no client appended", () => {
    const h = new HistoryScript().append(1, "a", 0, 5, [10, 1]).read(2, 6, 7, {
      from: 0,
      entries: [
        [10, 1, "a"],
        [20, 2, "zzz"],
      ],
      committedEnd: 30,
      ...lagging,
    });
    expect(checkHistory(h.ops)).toEqual([
      expect.stringMatching(/^group 1: op #1 .* returned at lsn 20 bytes no client appended/),
    ]);
  });

  it("bytes appended to another group", () => {
    const h = new HistoryScript()
      .append(1, "a", 0, 5, [10, 1], { group: 2 })
      .read(2, 6, 7, { from: 0, entries: [[10, 1, "a"]], committedEnd: 30, ...lagging });
    expect(checkHistory(h.ops)).toContainEqual(expect.stringMatching(/^group 1: .*bytes no client appended/));
  });

  it("a read that returned before the append was called, yet shows it", () => {
    const h = new HistoryScript()
      .read(2, 0, 1, { from: 0, entries: [[10, 1, "a"]], committedEnd: 11, ...lagging })
      .append(1, "a", 2, 5, [10, 1]);
    expect(checkHistory(h.ops, { linearizability: false })).toEqual([
      expect.stringMatching(/^group 1: op #0 .* the entry of op #1 .*called only after the read returned/),
    ]);
  });

  it("a malformed read: next beyond its committed end, entries out of order", () => {
    const h = new HistoryScript()
      .append(1, "a", 0, 5, [10, 1])
      .append(1, "b", 0, 5, [20, 2])
      .read(2, 6, 7, {
        from: 0,
        entries: [
          [20, 2, "b"],
          [10, 1, "a"],
        ],
        committedEnd: 30,
        next: 40,
        ...lagging,
      });
    const v = checkHistory(h.ops);
    expect(v).toContainEqual(expect.stringMatching(/op #2 .* claims next 40 beyond its committed end/));
    expect(v).toContainEqual(expect.stringMatching(/op #2 .* returned lsn 10 out of order/));
  });

  it("a payload shared by two sessions breaks the checker's assumption and says so", () => {
    const h = new HistoryScript().append(1, "a", 0, 5, [10, 1], { group: 3 });
    const other = { ...h.ops[0]!, input: { ...h.ops[0]!.input, session: { id: 2, seq: 1 } } };
    expect(checkHistory([h.ops[0]!, other as (typeof h.ops)[0]])).toContainEqual(
      expect.stringMatching(/^history: group 3 op #1 .* breaks the one-payload-per-session assumption/),
    );
  });

  it("lists at most maxViolations lines, then counts the rest", () => {
    const h = new HistoryScript();
    for (let i = 0; i < 5; i++)
      h.read(1, i, i, { from: i, entries: [[i, i, `?${i}`]], committedEnd: i + 1, ...lagging });
    const v = checkHistory(h.ops, { maxViolations: 2, linearizability: false });
    expect(v).toHaveLength(3);
    expect(v[2]).toBe("... and 3 more violation(s)");
  });
});
