/**
 * Jepsen-style bank check. Transactions move money between accounts and never create or destroy it, so
 * every consistent view of all accounts sums to the initial total. A read that sees part of a transfer
 * (money left one account, not yet arrived in the other) breaks the sum: that is a read of a state no
 * serial execution produced.
 */

export type TxnId = string | number;

/** One transaction's observed read of some or all accounts. */
export interface BankRead {
  readonly txnId: TxnId;
  /**
   * The snapshot (read timestamp) the read was taken at, if the store exposes it. Reads that share a
   * snapshot must agree on every account they both read, and together, when they cover every account,
   * must sum to the total: a store may read one partition at a time at one snapshot.
   */
  readonly snapshot?: number | bigint | string | undefined;
  /** Account -> balance as read. A read of only some accounts is checked for what it can show. */
  readonly balances: Readonly<Record<string, number>> | ReadonlyMap<string, number>;
}

export interface BankCheckInput {
  /** Sum of all balances before the workload began. */
  readonly initialTotal: number;
  /** Every successful read of the workload, in any order. */
  readonly reads: readonly BankRead[];
  /** Balances read after the workload quiesced (a read of every account). */
  readonly finalBalances: Readonly<Record<string, number>> | ReadonlyMap<string, number>;
  /** The accounts that exist; defaults to the accounts of `finalBalances`. */
  readonly accounts?: readonly string[] | undefined;
  /** Whether the workload allows a balance below zero (default false: a negative balance is reported). */
  readonly allowNegative?: boolean | undefined;
}

export type BankViolationKind =
  /** A read of every account (or the final state) does not sum to the initial total. */
  | "wrong-total"
  /** A balance below zero in a workload whose transfers never overdraw. */
  | "negative-balance"
  /** A read returned an account that does not exist. */
  | "unknown-account"
  /** A balance that is not a finite number (NaN, Infinity, a missing value). */
  | "invalid-balance"
  /** Two reads at the same snapshot saw different balances for one account. */
  | "snapshot-disagreement"
  /** The final state lacks an account that exists. */
  | "missing-account";

/** `txnId` is "final" for a violation found in the final balances. */
export interface BankViolation {
  readonly kind: BankViolationKind;
  readonly txnId: TxnId;
  readonly detail: string;
}

export interface BankCheckResult {
  readonly ok: boolean;
  readonly violations: BankViolation[];
  /** Reads that covered every account and so had their sum checked (alone or joined by snapshot). */
  readonly totalsChecked: number;
}

/** The txnId of violations in the final balances. */
export const FINAL_STATE = "final";

/** Checks a bank workload's reads and final state against the money-is-conserved invariant. */
export function checkBank(input: BankCheckInput): BankCheckResult {
  if (!Number.isFinite(input.initialTotal)) {
    throw new TypeError(`checkBank: initialTotal must be a finite number, got ${String(input.initialTotal)}`);
  }
  const final = entriesOf(input.finalBalances, "finalBalances");
  const accounts = new Set(input.accounts ?? final.map(([account]) => account));
  if (accounts.size === 0) throw new TypeError("checkBank: no accounts (pass accounts or finalBalances)");
  const violations: BankViolation[] = [];
  let totalsChecked = 0;

  // Per-read checks; also keep each read's valid balances for the snapshot join.
  const bySnapshot = new Map<string, { txnId: TxnId; balances: Map<string, number> }[]>();
  for (const read of input.reads) {
    const balances = checkBalances(read.txnId, entriesOf(read.balances, `read of ${String(read.txnId)}`));
    if (balances.size === accounts.size) {
      totalsChecked++;
      checkTotal(read.txnId, balances, "read");
    }
    if (read.snapshot !== undefined) {
      const key = String(read.snapshot);
      const group = bySnapshot.get(key) ?? [];
      group.push({ txnId: read.txnId, balances });
      bySnapshot.set(key, group);
    }
  }

  // Reads at one snapshot are one view of the store: they must agree, and their union must sum right.
  for (const [snapshot, group] of bySnapshot) {
    if (group.length < 2) continue;
    const union = new Map<string, { txnId: TxnId; balance: number }>();
    let disagreed = false;
    for (const { txnId, balances } of group) {
      for (const [account, balance] of balances) {
        const seen = union.get(account);
        if (seen === undefined) union.set(account, { txnId, balance });
        else if (seen.balance !== balance) {
          disagreed = true;
          violations.push({
            kind: "snapshot-disagreement",
            txnId,
            detail: `at snapshot ${snapshot} account ${account} read ${balance}, but ${String(seen.txnId)} read ${seen.balance}`,
          });
        }
      }
    }
    // A single read that covers everything was already summed; a union only adds a check when it is new.
    const coveredAlone = group.some(({ balances }) => balances.size === accounts.size);
    if (!disagreed && !coveredAlone && union.size === accounts.size) {
      totalsChecked++;
      const sum = [...union.values()].reduce((s, v) => s + v.balance, 0);
      if (sum !== input.initialTotal) {
        violations.push({
          kind: "wrong-total",
          txnId: group[0]!.txnId,
          detail: `reads at snapshot ${snapshot} (${group.map((g) => String(g.txnId)).join(", ")}) sum to ${sum}, not ${input.initialTotal}`,
        });
      }
    }
  }

  const finalBalances = checkBalances(FINAL_STATE, final);
  const finalAccounts = new Set(final.map(([account]) => account));
  for (const account of accounts) {
    if (!finalAccounts.has(account)) {
      violations.push({
        kind: "missing-account",
        txnId: FINAL_STATE,
        detail: `the final state has no balance for account ${account}`,
      });
    }
  }
  if (finalBalances.size === accounts.size) checkTotal(FINAL_STATE, finalBalances, "final state");

  return { ok: violations.length === 0, violations, totalsChecked };

  /** Reports bad entries of one read and returns its balances of known accounts with finite values. */
  function checkBalances(txnId: TxnId, entries: [string, number][]): Map<string, number> {
    const valid = new Map<string, number>();
    for (const [account, balance] of entries) {
      if (!accounts.has(account)) {
        violations.push({
          kind: "unknown-account",
          txnId,
          detail: `read account ${account}, which does not exist (balance ${String(balance)})`,
        });
        continue;
      }
      if (typeof balance !== "number" || !Number.isFinite(balance)) {
        violations.push({
          kind: "invalid-balance",
          txnId,
          detail: `account ${account} read as ${String(balance)}`,
        });
        continue;
      }
      if (balance < 0 && !input.allowNegative) {
        violations.push({ kind: "negative-balance", txnId, detail: `account ${account} read as ${balance}` });
      }
      valid.set(account, balance);
    }
    return valid;
  }

  function checkTotal(txnId: TxnId, balances: Map<string, number>, what: string): void {
    let sum = 0;
    for (const balance of balances.values()) sum += balance;
    if (sum !== input.initialTotal) {
      violations.push({
        kind: "wrong-total",
        txnId,
        detail: `${what} of all ${balances.size} accounts sums to ${sum}, not ${input.initialTotal}`,
      });
    }
  }
}

function entriesOf(
  balances: Readonly<Record<string, number>> | ReadonlyMap<string, number>,
  what: string,
): [string, number][] {
  if (balances === null || typeof balances !== "object") {
    throw new TypeError(`checkBank: ${what} must be a record or Map of balances`);
  }
  return balances instanceof Map ? [...balances] : Object.entries(balances);
}
