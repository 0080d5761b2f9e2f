// Each anomaly the list-append check reports, injected into a small hand-written history, is reported
// with its kind, its transactions and (for cycles) the edges that close it; the same history without the
// anomaly passes.
import { describe, expect, it } from "vitest";
import { append, read, txn } from "./list-append.test-support.ts";
import { checkListAppend, type ListAppendCheckResult } from "./list-append-check.ts";
import { TxnHistoryError } from "./list-append-history.ts";

const kinds = (result: ListAppendCheckResult) => result.anomalies.map((a) => a.kind).sort();
const only = (result: ListAppendCheckResult, kind: string) => result.anomalies.filter((a) => a.kind === kind);

describe("list-append check, non-cycle anomalies", () => {
  it("passes a clean history of appends and reads", () => {
    const result = checkListAppend([
      txn(1, [append("x", 1), append("y", 1)], [0, 10]),
      txn(2, [read("x", [1]), append("x", 2)], [20, 30]),
      txn(3, [read("x", [1, 2]), read("y", [1])], [40, 50]),
    ]);
    expect(result.anomalies).toEqual([]);
    expect(result.ok).toBe(true);
  });

  it("reports G1a when an ok transaction reads a value appended by a failed one", () => {
    const result = checkListAppend([
      txn(1, [append("x", 1)], [0, 10], "fail"),
      txn(2, [read("x", [1])], [20, 30]),
    ]);
    expect(kinds(result)).toEqual(["G1a"]);
    expect(result.anomalies[0]!.txns).toEqual([2, 1]);
    expect(result.anomalies[0]!.explanation).toMatch(/holds 1, appended by txn 1, which failed/);
    expect(result.ok).toBe(false);
  });

  it("does not report G1a for a value of an indeterminate (info) transaction", () => {
    const result = checkListAppend([
      txn(1, [append("x", 1)], [0, 10], "info"),
      txn(2, [read("x", [1])], [20, 30]),
    ]);
    expect(result.anomalies).toEqual([]);
  });

  it("accepts a failed transaction's value appended again by its retry, and reads of the retry", () => {
    const result = checkListAppend([
      txn(1, [append("x", 1)], [0, 10], "fail"),
      txn(2, [append("x", 1)], [20, 30]),
      txn(3, [read("x", [1])], [40, 50]),
    ]);
    expect(result.anomalies).toEqual([]);
  });

  it("reports G1b when a read ends mid-way through another transaction's appends to the key", () => {
    const result = checkListAppend([
      txn(1, [append("x", 1), append("x", 2)], [0, 10]),
      txn(2, [read("x", [1])], [0, 10]),
      txn(3, [read("x", [1, 2])], [20, 30]),
    ]);
    expect(only(result, "G1b").map((a) => a.txns)).toEqual([[2, 1]]);
    expect(only(result, "G1b")[0]!.explanation).toMatch(/intermediate state/);
  });

  it("reports a lost update when two committed transactions read one version and both append", () => {
    const result = checkListAppend([
      txn(1, [read("x", [5]), append("x", 6)], [0, 10]),
      txn(2, [read("x", [5]), append("x", 7)], [0, 10]),
      txn(3, [append("x", 5)], [-10, -5]),
      txn(4, [read("x", [5, 6, 7])], [20, 30]),
    ]);
    const lost = only(result, "lost-update");
    expect(lost.map((a) => a.txns)).toEqual([[1, 2]]);
    expect(lost[0]!.explanation).toMatch(/read key x ending in 5 and each appended/);
  });

  it("reports incompatible orders when two reads of a key are not prefixes of one another", () => {
    const result = checkListAppend([
      txn(1, [append("x", 1)], [0, 10]),
      txn(2, [append("x", 2)], [0, 10]),
      txn(3, [read("x", [1, 2])], [20, 30]),
      txn(4, [read("x", [2, 1])], [20, 30]),
    ]);
    expect(kinds(result)).toEqual(["incompatible-order"]);
    expect(result.anomalies[0]!.txns.sort()).toEqual([3, 4]);
  });

  it("reports duplicate appends of one value by two committed transactions", () => {
    const result = checkListAppend([txn(1, [append("x", 1)], [0, 10]), txn(2, [append("x", 1)], [0, 10])]);
    expect(kinds(result)).toEqual(["duplicate-appends"]);
    expect(result.anomalies[0]!.txns).toEqual([1, 2]);
  });

  it("reports duplicate elements within one read", () => {
    const result = checkListAppend([
      txn(1, [append("x", 1)], [0, 10]),
      txn(2, [read("x", [1, 1])], [20, 30]),
    ]);
    expect(kinds(result)).toContain("duplicate-elements");
    expect(only(result, "duplicate-elements")[0]!.txns).toEqual([2]);
  });

  it("reports a garbage read of a value nobody appended", () => {
    const result = checkListAppend([
      txn(1, [append("x", 1)], [0, 10]),
      txn(2, [read("x", [1, 9])], [20, 30]),
    ]);
    expect(kinds(result)).toEqual(["garbage-read"]);
    expect(result.anomalies[0]!.explanation).toMatch(/no transaction appended 9/);
  });

  it("reports internal inconsistency: a read that misses the transaction's own appends, or sees one early", () => {
    const result = checkListAppend([
      txn(1, [append("x", 1)], [0, 10]),
      txn(2, [read("x", [1]), append("x", 2), read("x", [1])], [20, 30]),
      txn(3, [append("y", 3), read("y", [])], [20, 30]),
      txn(4, [read("x", [1, 2]), read("y", [3])], [40, 50]),
      txn(5, [read("z", [7]), append("z", 7)], [60, 70]),
    ]);
    expect(only(result, "internal").map((a) => a.txns)).toEqual([[2], [3], [5]]);
    expect(only(result, "internal")[2]!.explanation).toMatch(/holds 7, an append it made only later/);
  });

  it("ignores reads of failed and indeterminate transactions", () => {
    const result = checkListAppend([
      txn(1, [append("x", 1)], [0, 10]),
      txn(2, [read("x", [7, 8])], [20, 30], "fail"),
      txn(3, [read("x", [9])], [20, 30], "info"),
      txn(4, [read("x", [1])], [40, 50]),
    ]);
    expect(result.anomalies).toEqual([]);
  });
});

describe("list-append check, dependency cycles", () => {
  // T1 -rw(a)-> T2 -wr(b)-> T3 -rw(c)-> T4 -wr(d)-> T1: two anti-dependencies, never adjacent.
  const nonadjacent = [
    txn(1, [read("d", [4]), read("a", null)], [0, 10]),
    txn(2, [append("a", 1), append("b", 2)], [0, 10]),
    txn(3, [read("b", [2]), read("c", null)], [0, 10]),
    txn(4, [append("c", 3), append("d", 4)], [0, 10]),
    txn(5, [read("a", [1]), read("c", [3])], [20, 30]),
  ];

  it("reports G0 for interleaved appends of two transactions to two keys", () => {
    const result = checkListAppend(
      [
        txn(1, [append("x", 1), append("y", 1)], [0, 10]),
        txn(2, [append("x", 2), append("y", 2)], [0, 10]),
        txn(3, [read("x", [1, 2]), read("y", [2, 1])], [20, 30]),
      ],
      { consistency: "si" },
    );
    expect(kinds(result)).toEqual(["G0"]);
    const g0 = result.anomalies[0]!;
    expect(g0.txns.sort()).toEqual([1, 2]);
    expect(g0.cycle!.map((s) => s.type)).toEqual(["ww", "ww"]);
    expect(g0.explanation).toMatch(/txn 2 appended 2 to key x right after txn 1's 1 \(ww\)/);
  });

  it("reports G1c for two transactions that each read the other's append", () => {
    const result = checkListAppend(
      [txn(1, [append("x", 1), read("y", [2])], [0, 10]), txn(2, [append("y", 2), read("x", [1])], [0, 10])],
      { consistency: "si" },
    );
    expect(kinds(result)).toEqual(["G1c"]);
    expect(result.anomalies[0]!.cycle!.map((s) => s.type)).toEqual(["wr", "wr"]);
  });

  it("reports G-single (read skew): one read sees a transaction's append to x but not to y", () => {
    const result = checkListAppend(
      [
        txn(1, [append("x", 1), append("y", 1)], [0, 10]),
        txn(2, [read("x", [1]), read("y", null)], [0, 10]),
        txn(3, [read("x", [1]), read("y", [1])], [20, 30]),
      ],
      { consistency: "si" },
    );
    expect(kinds(result)).toEqual(["G-single"]);
    const cycle = result.anomalies[0]!.cycle!;
    expect(cycle.map((s) => [s.from, s.to, s.type])).toEqual([
      [2, 1, "rw"],
      [1, 2, "wr"],
    ]);
    expect(cycle[0]!.explanation).toMatch(/txn 2 read key y as empty, and txn 1 appended the next element 1/);
  });

  it("reports G2 (write skew) as info under SI and as an error under serializability", () => {
    const history = [
      txn(1, [read("x", null), read("y", null), append("x", 1)], [0, 10]),
      txn(2, [read("x", null), read("y", null), append("y", 2)], [0, 10]),
      txn(3, [read("x", [1]), read("y", [2])], [20, 30]),
    ];
    const si = checkListAppend(history, { consistency: "si" });
    expect(kinds(si)).toEqual(["G2"]);
    expect(si.anomalies[0]!.severity).toBe("info");
    expect(si.ok).toBe(true);
    const serializable = checkListAppend(history, { consistency: "serializable" });
    expect(kinds(serializable)).toEqual(["G2"]);
    expect(serializable.anomalies[0]!.severity).toBe("error");
    expect(serializable.ok).toBe(false);
  });

  it("reports G-nonadjacent (two rw edges, never adjacent) as an error even under SI", () => {
    const result = checkListAppend(nonadjacent, { consistency: "si" });
    expect(kinds(result)).toEqual(["G-nonadjacent"]);
    expect(result.anomalies[0]!.cycle!.map((s) => s.type).sort()).toEqual(["rw", "rw", "wr", "wr"]);
    expect(result.ok).toBe(false);
  });

  it("says so when the G-nonadjacent search runs out of budget (the cycle is then reported as G2)", () => {
    const result = checkListAppend(nonadjacent, { consistency: "si", searchBudget: 0 });
    expect(kinds(result)).toEqual(["G2"]);
    expect(result.stats.searchExhausted).toBe(true);
  });

  it("reports a lost update as G-single too (the two appends order the readers)", () => {
    const result = checkListAppend(
      [
        txn(1, [read("x", null), append("x", 1)], [0, 10]),
        txn(2, [read("x", null), append("x", 2)], [0, 10]),
        txn(3, [read("x", [1, 2])], [20, 30]),
      ],
      { consistency: "si" },
    );
    expect(kinds(result)).toEqual(["G-single", "lost-update"]);
  });
});

describe("list-append check, real time (strong SI)", () => {
  const stale = [
    txn(1, [append("x", 1)], [0, 10]),
    txn(2, [read("x", null)], [20, 30]),
    txn(3, [read("x", [1])], [40, 50]),
  ];

  it("reports G-single-realtime: a read invoked after a commit completed misses it", () => {
    const result = checkListAppend(stale, { consistency: "strong-si" });
    expect(kinds(result)).toEqual(["G-single-realtime"]);
    const cycle = result.anomalies[0]!.cycle!;
    expect(cycle.map((s) => [s.from, s.to, s.type])).toEqual([
      [2, 1, "rw"],
      [1, 2, "rt"],
    ]);
    expect(cycle[1]!.explanation).toBe("txn 1 completed at 10 ms, before txn 2 was invoked at 20 ms (rt)");
    expect(checkListAppend(stale, { consistency: "si" }).ok).toBe(true);
  });

  it("infers that a committed append no read saw follows every element read (stale read, no later reader)", () => {
    const result = checkListAppend(stale.slice(0, 2), { consistency: "strong-si" });
    expect(kinds(result)).toEqual(["G-single-realtime"]);
    expect(result.anomalies[0]!.cycle![0]!.explanation).toMatch(/committed an append of 1 that no read saw/);
    // An indeterminate writer may never have appended, so nothing follows.
    const unknown = [txn(1, [append("x", 1)], [0, 10], "info"), stale[1]!];
    expect(checkListAppend(unknown, { consistency: "strong-si" }).anomalies).toEqual([]);
  });

  it("accepts the same stale read when the writer overlapped the reader", () => {
    const overlapping = [txn(1, [append("x", 1)], [0, 25]), ...stale.slice(1)];
    expect(checkListAppend(overlapping, { consistency: "strong-si" }).anomalies).toEqual([]);
  });

  it("does not take an indeterminate transaction as a real-time source", () => {
    const unanswered = [txn(1, [append("x", 1)], [0, 10], "info"), ...stale.slice(1)];
    expect(checkListAppend(unanswered, { consistency: "strong-si" }).anomalies).toEqual([]);
  });

  it("reports G0-realtime: a later transaction's append ordered before an earlier one's", () => {
    const result = checkListAppend(
      [
        txn(1, [append("x", 1)], [0, 10]),
        txn(2, [append("x", 2)], [20, 30]),
        txn(3, [read("x", [2, 1])], [40, 50]),
      ],
      { consistency: "strong-si" },
    );
    expect(kinds(result)).toEqual(["G0-realtime"]);
    expect(result.anomalies[0]!.cycle!.map((s) => s.type).sort()).toEqual(["rt", "ww"]);
  });

  it("reports G1c-realtime: a transaction read a value appended only after it completed", () => {
    const result = checkListAppend([txn(1, [read("y", [2])], [0, 10]), txn(2, [append("y", 2)], [20, 30])], {
      consistency: "strong-si",
    });
    expect(kinds(result)).toEqual(["G1c-realtime"]);
    expect(result.anomalies[0]!.cycle!.map((s) => s.type).sort()).toEqual(["rt", "wr"]);
  });

  it("chains real time through intermediate completions (T1 done before T2, T2 done before T3)", () => {
    const result = checkListAppend(
      [
        txn(1, [append("x", 1)], [0, 10]),
        txn(2, [append("z", 9)], [5, 15]),
        txn(4, [read("z", [9])], [16, 17]),
        txn(3, [read("x", null)], [100, 110]),
        txn(5, [read("x", [1])], [200, 210]),
      ],
      { consistency: "strict-serializable" },
    );
    expect(kinds(result)).toEqual(["G-single-realtime"]);
    expect(result.anomalies[0]!.txns.sort()).toEqual([1, 3]);
  });

  it("reports G-nonadjacent-realtime: two rw edges, never adjacent, closed by real time", () => {
    const history = [
      txn(1, [read("d", [4]), read("a", null)], [0, 100]),
      txn(2, [append("a", 1)], [0, 10]),
      txn(3, [read("c", null)], [20, 100]),
      txn(4, [append("c", 3), append("d", 4)], [0, 100]),
      txn(5, [read("a", [1]), read("c", [3])], [200, 210]),
    ];
    const result = checkListAppend(history, { consistency: "strong-si" });
    expect(kinds(result)).toEqual(["G-nonadjacent-realtime"]);
    expect(result.anomalies[0]!.cycle!.map((s) => s.type).sort()).toEqual(["rt", "rw", "rw", "wr"]);
    expect(checkListAppend(history, { consistency: "si" }).anomalies).toEqual([]);
  });

  it("under strict serializability reports G2 cycles, which strong SI allows", () => {
    const history = [
      txn(1, [read("x", null), read("y", null), append("x", 1)], [0, 10]),
      txn(2, [read("x", null), read("y", null), append("y", 2)], [0, 10]),
      txn(3, [read("x", [1]), read("y", [2])], [20, 30]),
    ];
    expect(checkListAppend(history, { consistency: "strong-si" }).ok).toBe(true);
    const strict = checkListAppend(history, { consistency: "strict-serializable" });
    expect(strict.ok).toBe(false);
    expect(kinds(strict)).toEqual(["G2"]);
  });
});

describe("list-append check, input", () => {
  it("rejects malformed histories with a TxnHistoryError naming the transaction", () => {
    const good = txn(1, [append("x", 1)]);
    expect(() => checkListAppend([good, good])).toThrow(/txnId appears twice/);
    expect(() => checkListAppend([{ ...good, status: "maybe" as "ok" }])).toThrow(TxnHistoryError);
    expect(() => checkListAppend([{ ...good, ops: [{ f: "cas", key: "x" } as never] }])).toThrow(
      /f must be "append" or "r"/,
    );
    expect(() => checkListAppend([{ txnId: 2, process: 0, invokeMs: 0, status: "ok", ops: [] }])).toThrow(
      /needs completeMs/,
    );
  });

  it("keeps at most maxPerKind anomalies of a kind and counts them all", () => {
    const history = [txn(0, [append("x", 0)], [0, 1], "fail")];
    for (let i = 1; i <= 30; i++) history.push(txn(i, [read("x", [0])], [2, 3]));
    const result = checkListAppend(history, { maxPerKind: 5 });
    expect(result.anomalies.length).toBe(5);
    expect(result.counts.G1a).toBe(30);
  });
});
