// The bank check reports each violation kind from an injected anomaly, passes clean reads, and passes
// every snapshot of random serial transfer workloads (fast-check) while catching a torn transfer in one.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type BankRead, checkBank, FINAL_STATE } from "./bank-check.ts";

const accounts = ["a", "b", "c"];
const kinds = (r: ReturnType<typeof checkBank>) => r.violations.map((v) => v.kind).sort();

describe("bank check", () => {
  it("passes reads and a final state that sum to the initial total", () => {
    const result = checkBank({
      initialTotal: 30,
      reads: [
        { txnId: 1, balances: { a: 10, b: 10, c: 10 } },
        { txnId: 2, balances: { a: 5, b: 15, c: 10 } },
        { txnId: 3, balances: { a: 5 } },
      ],
      finalBalances: { a: 0, b: 20, c: 10 },
    });
    expect(result).toEqual({ ok: true, violations: [], totalsChecked: 2 });
  });

  it("reports wrong-total for a read of every account that sees half a transfer", () => {
    const result = checkBank({
      initialTotal: 30,
      reads: [{ txnId: 7, balances: { a: 5, b: 10, c: 10 } }],
      finalBalances: { a: 10, b: 10, c: 10 },
    });
    expect(result.violations).toEqual([
      { kind: "wrong-total", txnId: 7, detail: "read of all 3 accounts sums to 25, not 30" },
    ]);
    expect(result.ok).toBe(false);
  });

  it("reports wrong-total for a final state that lost money", () => {
    const result = checkBank({
      initialTotal: 30,
      reads: [],
      finalBalances: new Map([
        ["a", 10],
        ["b", 10],
        ["c", 0],
      ]),
    });
    expect(result.violations.map((v) => [v.kind, v.txnId])).toEqual([["wrong-total", FINAL_STATE]]);
  });

  it("reports negative balances unless the workload allows them", () => {
    const input = {
      initialTotal: 30,
      reads: [{ txnId: 1, balances: { a: -5, b: 25, c: 10 } }],
      finalBalances: { a: 10, b: 10, c: 10 },
    };
    expect(kinds(checkBank(input))).toEqual(["negative-balance"]);
    expect(checkBank({ ...input, allowNegative: true }).ok).toBe(true);
  });

  it("reports reads of accounts that do not exist", () => {
    const result = checkBank({
      initialTotal: 30,
      accounts,
      reads: [{ txnId: 4, balances: { a: 10, b: 10, c: 10, z: 0 } }],
      finalBalances: { a: 10, b: 10, c: 10 },
    });
    expect(result.violations).toEqual([
      { kind: "unknown-account", txnId: 4, detail: "read account z, which does not exist (balance 0)" },
    ]);
  });

  it("reports balances that are not finite numbers", () => {
    const result = checkBank({
      initialTotal: 30,
      reads: [{ txnId: 4, balances: { a: Number.NaN, b: 10 } }],
      finalBalances: { a: 10, b: 10, c: 10 },
    });
    expect(kinds(result)).toEqual(["invalid-balance"]);
  });

  it("reports a final state that lacks an account", () => {
    const result = checkBank({ initialTotal: 30, accounts, reads: [], finalBalances: { a: 15, b: 15 } });
    expect(kinds(result)).toEqual(["missing-account"]);
  });

  it("joins partial reads at one snapshot: they must agree and sum to the total together", () => {
    const agree: BankRead[] = [
      { txnId: 1, snapshot: 100n, balances: { a: 5, b: 15 } },
      { txnId: 2, snapshot: 100n, balances: { b: 15, c: 10 } },
    ];
    const final = { a: 10, b: 10, c: 10 };
    expect(checkBank({ initialTotal: 30, reads: agree, finalBalances: final })).toEqual({
      ok: true,
      violations: [],
      totalsChecked: 1,
    });
    const torn: BankRead[] = [agree[0]!, { txnId: 2, snapshot: 100n, balances: { c: 5 } }];
    const tornResult = checkBank({ initialTotal: 30, reads: torn, finalBalances: final });
    expect(tornResult.violations).toEqual([
      { kind: "wrong-total", txnId: 1, detail: "reads at snapshot 100 (1, 2) sum to 25, not 30" },
    ]);
    const disagree: BankRead[] = [agree[0]!, { txnId: 2, snapshot: 100n, balances: { b: 20, c: 5 } }];
    expect(kinds(checkBank({ initialTotal: 30, reads: disagree, finalBalances: final }))).toEqual([
      "snapshot-disagreement",
    ]);
  });

  it("rejects input it cannot check with a TypeError", () => {
    expect(() => checkBank({ initialTotal: Number.NaN, reads: [], finalBalances: { a: 1 } })).toThrow(
      TypeError,
    );
    expect(() => checkBank({ initialTotal: 0, reads: [], finalBalances: {} })).toThrow(/no accounts/);
  });
});

/** Serial transfers between `n` accounts; returns every intermediate state as a read, plus the last. */
function serialWorkload(n: number, initial: number, transfers: [number, number, number][]) {
  const balances = Array.from({ length: n }, () => initial);
  const reads: BankRead[] = [];
  for (const [i, [from, to, amount]] of transfers.entries()) {
    const a = from % n;
    const b = to % n;
    const moved = Math.min(amount, balances[a]!);
    balances[a]! -= moved;
    balances[b]! += moved;
    const snapshot = Object.fromEntries(balances.map((v, k) => [`acct${k}`, v]));
    reads.push({ txnId: i, snapshot: i, balances: snapshot });
    // A second read at the same snapshot that sees only some accounts.
    reads.push({ txnId: `${i}-part`, snapshot: i, balances: { acct0: balances[0]! } });
  }
  const finalBalances = Object.fromEntries(balances.map((v, k) => [`acct${k}`, v]));
  return { initialTotal: n * initial, reads, finalBalances };
}

const workload = fc.record({
  n: fc.integer({ min: 2, max: 8 }),
  initial: fc.integer({ min: 0, max: 100 }),
  transfers: fc.array(fc.tuple(fc.nat(20), fc.nat(20), fc.integer({ min: 1, max: 60 })), { maxLength: 60 }),
});

describe("bank check on generated serial workloads", { timeout: 120_000 }, () => {
  it("passes every snapshot of a serial run (fc seed 21)", () => {
    fc.assert(
      fc.property(workload, ({ n, initial, transfers }) => {
        const result = checkBank(serialWorkload(n, initial, transfers));
        expect(result.violations).toEqual([]);
        expect(result.totalsChecked).toBe(transfers.length);
      }),
      { numRuns: 200, seed: 21 },
    );
  });

  it("reports wrong-total when one read sees a transfer's debit but not its credit (fc seed 22)", () => {
    fc.assert(
      fc.property(workload, fc.nat(), fc.integer({ min: 1, max: 50 }), (w, pick, amount) => {
        const input = serialWorkload(w.n, w.initial, w.transfers);
        fc.pre(input.reads.length > 0);
        const full = input.reads.filter((r) => typeof r.txnId === "number");
        const victim = full[pick % full.length]!;
        const balances = { ...(victim.balances as Record<string, number>) };
        balances.acct1! += amount;
        const reads = input.reads.map((r) => (r === victim ? { ...r, balances } : r));
        const result = checkBank({ ...input, reads, allowNegative: true });
        expect(result.violations.map((v) => [v.kind, v.txnId])).toEqual([["wrong-total", victim.txnId]]);
      }),
      { numRuns: 200, seed: 22 },
    );
  });
});
