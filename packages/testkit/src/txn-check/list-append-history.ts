import type { TxnId } from "./bank-check.ts";

/**
 * The input of the list-append check: transactions that append unique values to lists and read whole
 * lists. Because every value is unique per key and lists only grow, a read names exactly which appends
 * it saw and in what order, so the version order of each key can be recovered from the reads.
 */

export type ListKey = string | number;

/** Append `value` to the list at `key`. Values must be unique per key across the whole history. */
export interface AppendMop {
  readonly f: "append";
  readonly key: ListKey;
  readonly value: number;
}

/** Read the list at `key`; `null` (or []) means the key did not exist. Unknown for non-ok transactions. */
export interface ReadMop {
  readonly f: "r";
  readonly key: ListKey;
  readonly value: readonly number[] | null;
}

export type ListAppendMop = AppendMop | ReadMop;

/**
 * ok: committed, its reads are what it saw. fail: definitely did not commit (its appends must never be
 * seen). info: indeterminate (timeout, crash): its appends may or may not have taken effect.
 */
export type TxnStatus = "ok" | "fail" | "info";

export interface ListAppendTxn {
  readonly txnId: TxnId;
  /** The client that ran it (for the reader; real time already orders one client's transactions). */
  readonly process: number | string;
  /** When the client invoked it (ms on one clock shared by all clients). */
  readonly invokeMs: number;
  /** When the client got the answer; absent for an info transaction that never got one. */
  readonly completeMs?: number | undefined;
  readonly status: TxnStatus;
  readonly ops: readonly ListAppendMop[];
}

/** Thrown for a history that is not well formed (the check reports anomalies, not shape errors). */
export class TxnHistoryError extends Error {
  override readonly name = "TxnHistoryError";
}

const STATUSES: ReadonlySet<string> = new Set(["ok", "fail", "info"]);

/** An error naming transaction #i (built only on failure: histories are large and almost always fine). */
function bad(i: number, txn: ListAppendTxn | null | undefined, problem: string): TxnHistoryError {
  return new TxnHistoryError(`transaction #${i} (${String(txn?.txnId)})${problem}`);
}

/** Throws TxnHistoryError naming the first malformed transaction. */
export function validateListAppendHistory(history: readonly ListAppendTxn[]): void {
  if (!Array.isArray(history)) throw new TxnHistoryError("history must be an array of transactions");
  const ids = new Set<TxnId>();
  for (const [i, txn] of history.entries()) {
    if (txn === null || typeof txn !== "object") throw bad(i, txn, " is not an object");
    if (typeof txn.txnId !== "string" && typeof txn.txnId !== "number") throw bad(i, txn, " has no txnId");
    if (ids.has(txn.txnId)) throw bad(i, txn, ": txnId appears twice in the history");
    ids.add(txn.txnId);
    if (!STATUSES.has(txn.status)) {
      throw bad(i, txn, `: status must be ok, fail or info, got ${String(txn.status)}`);
    }
    if (!Number.isFinite(txn.invokeMs)) throw bad(i, txn, ": invokeMs must be a number");
    if (txn.completeMs === undefined) {
      if (txn.status !== "info") throw bad(i, txn, `: status ${txn.status} needs completeMs`);
    } else if (!Number.isFinite(txn.completeMs) || txn.completeMs < txn.invokeMs) {
      throw bad(i, txn, ": completeMs must be a number >= invokeMs");
    }
    if (!Array.isArray(txn.ops)) throw bad(i, txn, ": ops must be an array");
    for (const [j, op] of txn.ops.entries()) {
      if (typeof op?.key !== "string" && typeof op?.key !== "number")
        throw bad(i, txn, ` op #${j} has no key`);
      if (op.f === "append") {
        if (typeof op.value !== "number") throw bad(i, txn, ` op #${j}: an append needs a number value`);
      } else if (op.f === "r") {
        if (op.value !== null && !Array.isArray(op.value)) {
          throw bad(i, txn, ` op #${j}: a read's value must be an array of numbers or null`);
        }
      } else {
        throw bad(i, txn, ` op #${j}: f must be "append" or "r", got ${String((op as { f: unknown }).f)}`);
      }
    }
  }
}
