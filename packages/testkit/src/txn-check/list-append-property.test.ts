// Histories from a correct store must pass; the same histories with one injected anomaly must not, nor
// histories of stores broken on purpose (read committed, no first-committer-wins). The store
// (list-append.test-support.ts) runs random transactions on a multi-version map, serially or
// concurrently, under snapshot isolation or serializably, with failed and indeterminate commits.
import { Prng } from "@palf/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { runStore } from "./list-append.test-support.ts";
import { checkListAppend } from "./list-append-check.ts";
import type { ListAppendTxn, ReadMop } from "./list-append-history.ts";

const shape = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  txns: fc.integer({ min: 1, max: 120 }),
  processes: fc.integer({ min: 1, max: 6 }),
  activeKeys: fc.integer({ min: 1, max: 8 }),
});

const errors = (history: ListAppendTxn[], consistency: "strong-si" | "strict-serializable") =>
  checkListAppend(history, { consistency }).anomalies.filter((a) => a.severity === "error");

// Seconds of CPU per property; a loaded shared machine can stretch that well past the default 5 s.
describe("list-append check on generated histories", { timeout: 120_000 }, () => {
  it("passes serial histories under every model (fc seed 11)", () => {
    fc.assert(
      fc.property(shape, (o) => {
        const history = runStore({ ...o, processes: 1, isolation: "serializable" });
        expect(errors(history, "strict-serializable")).toEqual([]);
        expect(checkListAppend(history, { consistency: "strict-serializable" }).anomalies).toEqual([]);
      }),
      { numRuns: 200, seed: 11 },
    );
  });

  it("passes concurrent serializable histories under strict serializability (fc seed 12)", () => {
    fc.assert(
      fc.property(shape, (o) => {
        expect(errors(runStore({ ...o, isolation: "serializable" }), "strict-serializable")).toEqual([]);
      }),
      { numRuns: 200, seed: 12 },
    );
  });

  it("passes concurrent snapshot-isolation histories under strong SI (fc seed 13)", () => {
    let writeSkews = 0;
    let timedWriteSkews = 0;
    fc.assert(
      fc.property(shape, (o) => {
        const history = runStore({ ...o, isolation: "si" });
        const result = checkListAppend(history, { consistency: "strong-si" });
        expect(result.anomalies.filter((a) => a.severity === "error")).toEqual([]);
        if ((result.counts.G2 ?? 0) > 0) writeSkews++;
        if ((result.counts["G2-realtime"] ?? 0) > 0) timedWriteSkews++;
      }),
      { numRuns: 300, seed: 13 },
    );
    // The generator must produce the write skew SI allows (also in cycles through real time), or this
    // test proves little about telling G2 from G-nonadjacent.
    expect(writeSkews).toBeGreaterThan(0);
    expect(timedWriteSkews).toBeGreaterThan(0);
  });

  it("flags stores that break SI, only for what they break (fc seeds 16, 17)", () => {
    const busy = fc.record({
      seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
      txns: fc.integer({ min: 40, max: 120 }),
      processes: fc.integer({ min: 3, max: 6 }),
      activeKeys: fc.integer({ min: 2, max: 5 }),
    });
    // Neither store ever shows an aborted or half-applied transaction, nor invents or repeats a value.
    const possible: Record<string, RegExp> = {
      "read-committed": /^(G-single|G-nonadjacent|G1c|G0)(-realtime)?$|^internal$/,
      "no-first-committer":
        /^(G-single|G-nonadjacent|G1c|G0)(-realtime)?$|^lost-update$|^incompatible-order$/,
    };
    for (const [i, isolation] of (["read-committed", "no-first-committer"] as const).entries()) {
      let runs = 0;
      let flagged = 0;
      fc.assert(
        fc.property(busy, (o) => {
          const found = errors(runStore({ ...o, isolation }), "strong-si").map((a) => a.kind);
          runs++;
          if (found.length > 0) flagged++;
          for (const kind of found) expect(kind, isolation).toMatch(possible[isolation]!);
        }),
        { numRuns: 100, seed: 16 + i },
      );
      expect(flagged / runs, isolation).toBeGreaterThan(0.3);
    }
  });

  it("reports G1a when a transaction whose append was read is recorded as failed (fc seed 14)", () => {
    fc.assert(
      fc.property(shape, (o) => {
        const history = runStore({ ...o, isolation: "si" });
        const seen = seenWriters(history);
        fc.pre(seen.length > 0);
        const victim = seen[new Prng(o.seed).int(0, seen.length)]!;
        const broken = history.map((t) =>
          t.txnId === victim
            ? { ...t, status: "fail" as const, completeMs: t.completeMs ?? t.invokeMs + 1 }
            : t,
        );
        expect(errors(broken, "strong-si").map((a) => a.kind)).toContain("G1a");
      }),
      { numRuns: 100, seed: 14 },
    );
  });

  it("reports a stale read (last element dropped) as a cycle or a G1b (fc seed 15)", () => {
    fc.assert(
      fc.property(shape, (o) => {
        const history = runStore({ ...o, isolation: "serializable" });
        const broken = dropLastElement(history, new Prng(o.seed));
        fc.pre(broken !== undefined);
        const found = errors(broken!, "strict-serializable").map((a) => a.kind);
        expect(found.length, "no anomaly for a stale read").toBeGreaterThan(0);
        expect(
          found.every((k) => /^G|lost-update|internal/.test(k)),
          found.join(","),
        ).toBe(true);
      }),
      { numRuns: 100, seed: 15 },
    );
  });
});

/** ok/info transactions whose appends some ok transaction read. */
function seenWriters(history: ListAppendTxn[]): (string | number)[] {
  const writer = new Map<string, string | number>();
  for (const t of history) {
    if (t.status === "fail") continue;
    for (const op of t.ops) if (op.f === "append") writer.set(`${op.key}/${op.value}`, t.txnId);
  }
  const seen = new Set<string | number>();
  for (const t of history) {
    if (t.status !== "ok") continue;
    for (const op of t.ops) {
      if (op.f !== "r") continue;
      for (const v of op.value ?? []) {
        const w = writer.get(`${op.key}/${v}`);
        if (w !== undefined && w !== t.txnId) seen.add(w);
      }
    }
  }
  return [...seen];
}

/**
 * Makes one external read of the final reader (who read everything after all commits, so each of its
 * reads is the whole list) miss the key's last append, whose writer committed and completed before the
 * reader began.
 */
function dropLastElement(history: ListAppendTxn[], rng: Prng): ListAppendTxn[] | undefined {
  const final = history[history.length - 1]!;
  // Only an append of an ok transaction is known to have happened (an info one may not have).
  const committed = new Set<string>();
  for (const t of history) {
    if (t.status !== "ok") continue;
    for (const op of t.ops) if (op.f === "append") committed.add(`${op.key}/${op.value}`);
  }
  const reads = final.ops.filter(
    (op): op is ReadMop => op.f === "r" && op.value !== null && committed.has(`${op.key}/${op.value.at(-1)}`),
  );
  if (reads.length === 0) return undefined;
  const victim = reads[rng.int(0, reads.length)]!;
  const ops = final.ops.map((op) => (op === victim ? { ...op, value: victim.value!.slice(0, -1) } : op));
  return [...history.slice(0, -1), { ...final, ops }];
}
