// Histories played from a correct log with random concurrent timing (lagging and linearizable reads,
// failed / indeterminate / unanswered appends, retries, internal-entry gaps) must pass; the same history
// with one injected anomaly must fail, and for the reason that anomaly breaks.
import { Prng } from "@palf/core";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ANOMALIES, type Anomaly, injectAnomaly } from "./history-anomalies.ts";
import { analyzeHistory, checkHistory } from "./history-checker.ts";
import { randomHistory } from "./random-history.ts";

const shape = fc.record({
  seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
  groups: fc.integer({ min: 1, max: 3 }),
  clientsPerGroup: fc.integer({ min: 1, max: 5 }),
  opsPerClient: fc.integer({ min: 3, max: 10 }),
});

const because: Record<Anomaly, RegExp> = {
  lostWrite: /did not return the entry committed there/,
  conflictingEntry: /holds two different entries/,
  csnBackwards: /is not above csn/,
  duplicateSession: /committed twice/,
  failedSeen: /failed, yet it is committed/,
  staleLinearizableRead: /is not linearizable/,
  inventedBytes: /bytes no client appended/,
  readBeforeCall: /called only after the read returned/,
};

describe("random histories", () => {
  it("from a correct log pass, with every group linearizable (fc seed 2024)", () => {
    fc.assert(
      fc.property(shape, (o) => {
        const report = analyzeHistory(randomHistory(o));
        expect(report.violations).toEqual([]);
        expect(report.linearizability.every((r) => r.result === "ok")).toBe(true);
      }),
      { numRuns: 150, seed: 2024 },
    );
  });

  it("with one injected anomaly fail, for that anomaly's reason (fc seed 7)", () => {
    const injected = new Map<Anomaly, number>();
    fc.assert(
      fc.property(shape, fc.constantFrom(...ANOMALIES), (o, kind) => {
        const broken = injectAnomaly(randomHistory(o), kind, new Prng(o.seed));
        fc.pre(broken !== undefined);
        injected.set(kind, (injected.get(kind) ?? 0) + 1);
        const violations = checkHistory(broken!);
        expect(
          violations.some((v) => because[kind].test(v)),
          violations.join("\n"),
        ).toBe(true);
      }),
      { numRuns: 300, seed: 7 },
    );
    // Every kind must have been tried often enough to mean something.
    for (const kind of ANOMALIES) expect(injected.get(kind) ?? 0, kind).toBeGreaterThan(10);
  });
});
