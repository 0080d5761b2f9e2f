import type { AppendResult } from "@palf/core";
import type { AppendOutcomeWire } from "@palf/transport";
import { describe, expect, it } from "vitest";
import { AppendWaiters } from "./append-waiters.ts";

function waiting(w: AppendWaiters, pid: number, lsns: number[]): Map<number, AppendOutcomeWire | undefined> {
  const answers = new Map<number, AppendOutcomeWire | undefined>();
  for (const lsn of lsns) {
    answers.set(lsn, undefined);
    w.add({ pid, lsn, csn: lsn * 10, resolve: (o) => answers.set(lsn, o) });
  }
  return answers;
}

const result = (outcome: AppendResult["outcome"], pid: number, from: number, to: number): AppendResult => ({
  group: 1,
  outcome,
  pid,
  from,
  to,
});

describe("AppendWaiters", () => {
  it("answers only the appends inside a committed range, with their lsn and csn", () => {
    const w = new AppendWaiters();
    const answers = waiting(w, 3, [10, 11, 12, 13]);
    expect(w.settle(result("committed", 3, 10, 12))).toBe(2);
    expect(answers.get(10)).toEqual({ lsn: 10, csn: 100 });
    expect(answers.get(11)).toEqual({ lsn: 11, csn: 110 });
    expect(answers.get(12)).toBeUndefined();
    expect(w.size).toBe(2);
  });

  it("answers a range that is not at the front (a stepping-down leader's open entry fails first)", () => {
    const w = new AppendWaiters();
    const answers = waiting(w, 3, [10, 11, 20, 21]);
    expect(w.settle(result("failed", 3, 20, 22))).toBe(0);
    expect(answers.get(20)).toMatchObject({ error: { code: "FAILED" } });
    expect(answers.get(21)).toMatchObject({ error: { code: "FAILED" } });
    expect(answers.get(10)).toBeUndefined();
    expect(w.settle(result("committed", 3, 10, 20))).toBe(2);
    expect(answers.get(11)).toEqual({ lsn: 11, csn: 110 });
    expect(w.size).toBe(0);
  });

  it("never settles another leadership's append at the same lsn", () => {
    const w = new AppendWaiters();
    const answers = waiting(w, 3, [10]);
    expect(w.settle(result("committed", 4, 10, 11))).toBe(0);
    expect(answers.get(10)).toBeUndefined();
    expect(w.settle(result("indeterminate", 3, 10, 11))).toBe(0);
    expect(answers.get(10)).toMatchObject({ error: { code: "INDETERMINATE" } });
  });

  it("keeps answering in order across many results (the head index compacts)", () => {
    const w = new AppendWaiters();
    const lsns = Array.from({ length: 500 }, (_, i) => i);
    const answers = waiting(w, 1, lsns);
    for (let i = 0; i < 500; i += 5) expect(w.settle(result("committed", 1, i, i + 5))).toBe(5);
    expect([...answers.values()].every((a) => a !== undefined && "lsn" in a)).toBe(true);
    expect(w.size).toBe(0);
  });

  it("failAll answers everything still waiting, retried appends included", () => {
    const w = new AppendWaiters();
    const answers = waiting(w, 1, [1, 2]);
    let watched: AppendOutcomeWire | undefined;
    w.watch({ pid: 1, lsn: 0, csn: 0, resolve: (o) => (watched = o) }, { id: 7, seq: 1 });
    w.failAll({ code: "STOPPING", message: "stop" });
    expect(answers.get(1)).toMatchObject({ error: { code: "STOPPING" } });
    expect(watched).toMatchObject({ error: { code: "STOPPING" } });
    expect(w.size).toBe(0);
  });
});
