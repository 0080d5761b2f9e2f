import type { GroupEntryResult } from "@palf/core";
import type { AppendOutcomeWire } from "@palf/transport";
import { describe, expect, it } from "vitest";
import { AppendWaiters, RequestAnswers } from "./append-waiters.ts";

/** Appends with these ids, each its own one-item request at lsn = id * 10; the map shows each one's answer. */
function waiting(w: AppendWaiters, ids: number[]): Map<number, AppendOutcomeWire | undefined> {
  const answers = new Map<number, AppendOutcomeWire | undefined>();
  for (const id of ids) {
    answers.set(id, undefined);
    const request = new RequestAnswers(1);
    void request.all.then(([o]) => answers.set(id, o));
    w.add(id, { lsn: id * 10, csn: id * 100, answers: request, index: 0 });
  }
  return answers;
}

/** Lets settled request promises run their callbacks. */
const flush = () => new Promise<void>((r) => setImmediate(r));

const range = (n: number, from = 0) => Array.from({ length: n }, (_, i) => from + i);

/** A group entry's result naming these appends (its LSN range does not matter to the waiters). */
const result = (outcome: GroupEntryResult["outcome"], appends: number[]): GroupEntryResult => ({
  group: 1,
  outcome,
  pid: 3,
  from: 0,
  to: 1,
  appends,
});

describe("AppendWaiters", () => {
  it("answers exactly the appends a result names, with their lsn and csn", async () => {
    const w = new AppendWaiters();
    const answers = waiting(w, [0, 1, 2, 3]);
    expect(w.settle(result("committed", [0, 1]))).toBe(2);
    await flush();
    expect(answers.get(0)).toEqual({ lsn: 0, csn: 0 });
    expect(answers.get(1)).toEqual({ lsn: 10, csn: 100 });
    expect(answers.get(2)).toBeUndefined();
    expect(w.size).toBe(2);
  });

  it("answers a result that is not at the front (a stepping-down leader's open entry fails first)", async () => {
    const w = new AppendWaiters();
    const answers = waiting(w, [0, 1, 2, 3]);
    expect(w.settle(result("failed", [2, 3]))).toBe(0);
    await flush();
    expect(answers.get(2)).toMatchObject({ error: { code: "FAILED" } });
    expect(answers.get(3)).toMatchObject({ error: { code: "FAILED" } });
    expect(answers.get(0)).toBeUndefined();
    expect(w.settle(result("indeterminate", [0, 1]))).toBe(0);
    await flush();
    expect(answers.get(1)).toMatchObject({ error: { code: "INDETERMINATE" } });
    expect(w.size).toBe(0);
  });

  it("answers an id once: a second result naming it, or an id it never held, answers nothing", async () => {
    const w = new AppendWaiters();
    const answers = waiting(w, [5, 6]);
    expect(w.settle(result("committed", [5]))).toBe(1);
    expect(w.settle(result("failed", [5, 4, 99]))).toBe(0);
    await flush();
    expect(answers.get(5)).toEqual({ lsn: 50, csn: 500 });
    expect(answers.get(6)).toBeUndefined();
    expect(() => w.add(6, { lsn: 0, csn: 0, answers: new RequestAnswers(1), index: 0 })).toThrow(/not new/);
  });

  it("answers a retried append with the committed entry's csn, or INDETERMINATE", async () => {
    const w = new AppendWaiters();
    const answers = waiting(w, [0, 1]);
    w.settleRetry({ group: 1, id: 1, outcome: "committed", lsn: 10, csn: 123 });
    w.settleRetry({ group: 1, id: 0, outcome: "indeterminate", lsn: 0, csn: 0 });
    await flush();
    expect(answers.get(1)).toEqual({ lsn: 10, csn: 123 });
    expect(answers.get(0)).toMatchObject({ error: { code: "INDETERMINATE" } });
  });

  it("keeps answering across many results, in and out of order (the head index compacts)", async () => {
    const w = new AppendWaiters();
    const answers = waiting(w, range(500));
    // Every fifth block of five answered late, the rest in order.
    for (let i = 0; i < 500; i += 5)
      if (i % 25 !== 0) expect(w.settle(result("committed", range(5, i)))).toBe(5);
    expect(w.size).toBe(100);
    const more = waiting(w, range(10, 500));
    for (let i = 0; i < 500; i += 25) expect(w.settle(result("committed", range(5, i)))).toBe(5);
    expect(w.settle(result("committed", range(10, 500)))).toBe(10);
    await flush();
    expect(
      [...answers.entries()].every(([id, a]) => a !== undefined && "lsn" in a && a.lsn === id * 10),
    ).toBe(true);
    expect([...more.values()].every((a) => a !== undefined && "lsn" in a)).toBe(true);
    expect(w.size).toBe(0);
  });

  it("failAll answers everything still waiting", async () => {
    const w = new AppendWaiters();
    const answers = waiting(w, [1, 2, 3]);
    w.settle(result("committed", [2]));
    w.failAll({ code: "STOPPING", message: "stop" });
    await flush();
    expect(answers.get(1)).toMatchObject({ error: { code: "STOPPING" } });
    expect(answers.get(2)).toEqual({ lsn: 20, csn: 200 });
    expect(answers.get(3)).toMatchObject({ error: { code: "STOPPING" } });
    expect(w.size).toBe(0);
  });
});

describe("RequestAnswers", () => {
  it("settles once every item has its answer, in item order, and an item's first answer counts", async () => {
    const a = new RequestAnswers(3);
    let settled = false;
    void a.all.then(() => (settled = true));
    a.answer(2, { lsn: 30, csn: 3 });
    a.answer(0, { lsn: 10, csn: 1 });
    a.answer(0, { error: { code: "FAILED" } });
    await flush();
    expect(settled).toBe(false);
    a.answer(1, { error: { code: "NOT_LEADER" } });
    expect(await a.all).toEqual([
      { lsn: 10, csn: 1 },
      { error: { code: "NOT_LEADER" } },
      { lsn: 30, csn: 3 },
    ]);
  });

  it("a request of no items is answered at once", async () => {
    expect(await new RequestAnswers(0).all).toEqual([]);
  });
});
