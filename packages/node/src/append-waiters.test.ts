import type { GroupEntryResult } from "@palf/core";
import type { AppendOutcomeWire } from "@palf/transport";
import { describe, expect, it } from "vitest";
import { AppendWaiters, RequestAnswers } from "./append-waiters.ts";

/** Each lsn as its own one-item request; the map shows each one's answer (undefined: none yet). */
function waiting(w: AppendWaiters, pid: number, lsns: number[]): Map<number, AppendOutcomeWire | undefined> {
  const answers = new Map<number, AppendOutcomeWire | undefined>();
  for (const lsn of lsns) {
    answers.set(lsn, undefined);
    const request = new RequestAnswers(1);
    void request.all.then(([o]) => answers.set(lsn, o));
    w.add({ pid, lsn, csn: lsn * 10, answers: request, index: 0 });
  }
  return answers;
}

/** Lets settled request promises run their callbacks. */
const flush = () => new Promise<void>((r) => setImmediate(r));

const result = (
  outcome: GroupEntryResult["outcome"],
  pid: number,
  from: number,
  to: number,
): GroupEntryResult => ({
  group: 1,
  outcome,
  pid,
  from,
  to,
});

describe("AppendWaiters", () => {
  it("answers only the appends inside a committed range, with their lsn and csn", async () => {
    const w = new AppendWaiters();
    const answers = waiting(w, 3, [10, 11, 12, 13]);
    expect(w.settle(result("committed", 3, 10, 12))).toBe(2);
    await flush();
    expect(answers.get(10)).toEqual({ lsn: 10, csn: 100 });
    expect(answers.get(11)).toEqual({ lsn: 11, csn: 110 });
    expect(answers.get(12)).toBeUndefined();
    expect(w.size).toBe(2);
  });

  it("answers a range that is not at the front (a stepping-down leader's open entry fails first)", async () => {
    const w = new AppendWaiters();
    const answers = waiting(w, 3, [10, 11, 20, 21]);
    expect(w.settle(result("failed", 3, 20, 22))).toBe(0);
    await flush();
    expect(answers.get(20)).toMatchObject({ error: { code: "FAILED" } });
    expect(answers.get(21)).toMatchObject({ error: { code: "FAILED" } });
    expect(answers.get(10)).toBeUndefined();
    expect(w.settle(result("committed", 3, 10, 20))).toBe(2);
    await flush();
    expect(answers.get(11)).toEqual({ lsn: 11, csn: 110 });
    expect(w.size).toBe(0);
  });

  it("never settles another leadership's append at the same lsn", async () => {
    const w = new AppendWaiters();
    const answers = waiting(w, 3, [10]);
    expect(w.settle(result("committed", 4, 10, 11))).toBe(0);
    await flush();
    expect(answers.get(10)).toBeUndefined();
    expect(w.settle(result("indeterminate", 3, 10, 11))).toBe(0);
    await flush();
    expect(answers.get(10)).toMatchObject({ error: { code: "INDETERMINATE" } });
  });

  it("keeps answering in order across many results (the head index compacts)", async () => {
    const w = new AppendWaiters();
    const lsns = Array.from({ length: 500 }, (_, i) => i);
    const answers = waiting(w, 1, lsns);
    for (let i = 0; i < 500; i += 5) expect(w.settle(result("committed", 1, i, i + 5))).toBe(5);
    await flush();
    expect([...answers.values()].every((a) => a !== undefined && "lsn" in a)).toBe(true);
    expect(w.size).toBe(0);
  });

  it("failAll answers everything still waiting, retried appends included", async () => {
    const w = new AppendWaiters();
    const answers = waiting(w, 1, [1, 2]);
    const retried = new RequestAnswers(1);
    w.watch({ pid: 1, lsn: 0, csn: 0, answers: retried, index: 0 }, { id: 7, seq: 1 });
    w.failAll({ code: "STOPPING", message: "stop" });
    await flush();
    expect(answers.get(1)).toMatchObject({ error: { code: "STOPPING" } });
    expect(await retried.all).toMatchObject([{ error: { code: "STOPPING" } }]);
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
