/**
 * What the simulated store clients do and what they record: bank transfers and whole-bank reads (for
 * checkBank and the CDC copy), and Elle-style list-append transactions (for checkListAppend, strong SI with
 * real-time edges). Times are the simulator's true time, one clock for every client.
 */
import type { Prng } from "@palf/core";
import { type Kv, KvError, type KvValue } from "@palf/kv";
import type { BankRead } from "../txn-check/bank-check.ts";
import type { ListAppendMop, ListAppendTxn } from "../txn-check/list-append-history.ts";

export const BANK_ACCOUNTS = 6;
export const BANK_INITIAL = 100;
export const LIST_KEYS = 5;
export const accountKey = (i: number): string => `acct-${i}`;
export const listKey = (i: number): string => `list-${i}`;

/** An acknowledged commit: what the change stream must deliver, whole, at this version. */
export interface AckedCommit {
  readonly commitVersion: number;
  readonly writes: ReadonlyMap<string, KvValue | null>;
}

/** Everything the clients saw, for the checks at the end of a seed. */
export class StoreHistory {
  readonly bankReads: BankRead[] = [];
  readonly listTxns: ListAppendTxn[] = [];
  readonly acked = new Map<string, AckedCommit>();
  /** SDK calls that failed with something other than a KvError: never a clear answer. */
  readonly unclear: string[] = [];
  readonly counts = { committed: 0, failed: 0, indeterminate: 0 };
  private nextValue = 1;
  private failedSeq = 0;

  uniqueValue(): number {
    return this.nextValue++;
  }

  /** A call that threw: "fail" when it surely did not commit, "info" when its fate is unknown. */
  classify(err: unknown, what: string): "fail" | "info" {
    if (!(err instanceof KvError)) {
      this.unclear.push(`${what} threw ${String(err)} (not a KvError)`);
      this.counts.indeterminate++;
      return "info";
    }
    if (err.code === "CONFLICT" || err.code === "ABORTED" || err.code === "BAD_REQUEST") {
      this.counts.failed++;
      return "fail";
    }
    // UNAVAILABLE and SNAPSHOT_TOO_OLD may come from the commit's own reads after its decision append.
    this.counts.indeterminate++;
    return "info";
  }

  failedId(client: string): string {
    return `${client}-failed-${++this.failedSeq}`;
  }
}

export interface WorkloadClient {
  readonly name: string;
  readonly kv: Kv;
  readonly rng: Prng;
  /** True time now (ms). */
  readonly now: () => number;
}

/** One operation of a client: a transfer, a read of every account, or a list-append transaction. */
export async function runOneOp(c: WorkloadClient, h: StoreHistory): Promise<void> {
  const r = c.rng.next();
  if (r < 0.45) await transfer(c, h);
  else if (r < 0.6) await readBank(c, h);
  else {
    const plan = Array.from({ length: c.rng.int(1, 4) }, () => ({
      key: listKey(c.rng.int(0, LIST_KEYS)),
      value: c.rng.chance(0.5) ? h.uniqueValue() : 0,
    }));
    // Often read back at once what was just acknowledged: a new transaction must see it (strong SI).
    if ((await listAppend(c, h, plan)) && c.rng.chance(0.5))
      await listAppend(
        c,
        h,
        plan.map((p) => ({ key: p.key, value: 0 })),
      );
  }
}

async function transfer(c: WorkloadClient, h: StoreHistory): Promise<void> {
  const from = c.rng.int(0, BANK_ACCOUNTS);
  const to = (from + c.rng.int(1, BANK_ACCOUNTS)) % BANK_ACCOUNTS;
  const amount = c.rng.int(1, 30);
  let writes = new Map<string, KvValue | null>();
  try {
    const res = await c.kv.transact(async (tx) => {
      writes = new Map();
      const a = Number((await tx.get(accountKey(from))) ?? 0);
      const b = Number((await tx.get(accountKey(to))) ?? 0);
      const moved = Math.min(a, amount);
      if (moved === 0) return;
      writes.set(accountKey(from), String(a - moved));
      writes.set(accountKey(to), String(b + moved));
      for (const [k, v] of writes) tx.put(k, v!);
    });
    h.counts.committed++;
    if (res.commitVersion !== undefined) h.acked.set(res.txnId, { commitVersion: res.commitVersion, writes });
  } catch (e) {
    h.classify(e, `${c.name} transfer`);
  }
}

async function readBank(c: WorkloadClient, h: StoreHistory): Promise<void> {
  try {
    const res = await c.kv.transact(async (tx) => {
      const balances: Record<string, number> = {};
      for (let i = 0; i < BANK_ACCOUNTS; i++) balances[accountKey(i)] = Number(await tx.get(accountKey(i)));
      return balances;
    });
    h.counts.committed++;
    h.bankReads.push({ txnId: res.txnId, snapshot: res.snapshot, balances: res.value });
  } catch (e) {
    h.classify(e, `${c.name} bank read`);
  }
}

/** One list-append transaction (value 0: a read of the key); true when it committed. */
async function listAppend(
  c: WorkloadClient,
  h: StoreHistory,
  plan: ReadonlyArray<{ readonly key: string; readonly value: number }>,
): Promise<boolean> {
  let ops: ListAppendMop[] = [];
  let writes = new Map<string, KvValue | null>();
  const invokeMs = c.now();
  // Recorded as unknown now: if this client dies before the answer, it stays unknown.
  const entry: { -readonly [K in keyof ListAppendTxn]: ListAppendTxn[K] } = {
    txnId: h.failedId(c.name),
    process: c.name,
    invokeMs,
    status: "info",
    ops: plan.map((p) =>
      p.value > 0 ? { f: "append", key: p.key, value: p.value } : { f: "r", key: p.key, value: null },
    ),
  };
  h.listTxns.push(entry);
  try {
    const res = await c.kv.transact(async (tx) => {
      ops = [];
      writes = new Map();
      for (const { key, value } of plan) {
        const cur = writes.has(key) ? (writes.get(key) as string) : ((await tx.get(key)) as string | null);
        const list = cur === null || cur === "" ? [] : cur.split(",").map(Number);
        if (value > 0) {
          const next = [...list, value].join(",");
          writes.set(key, next);
          tx.put(key, next);
          ops.push({ f: "append", key, value });
        } else ops.push({ f: "r", key, value: cur === null ? null : list });
      }
    });
    h.counts.committed++;
    entry.txnId = res.txnId;
    entry.status = "ok";
    entry.completeMs = c.now();
    entry.ops = ops;
    if (res.commitVersion !== undefined) h.acked.set(res.txnId, { commitVersion: res.commitVersion, writes });
    return true;
  } catch (e) {
    if (h.classify(e, `${c.name} list-append`) === "fail") {
      entry.status = "fail";
      entry.completeMs = c.now();
    }
    return false;
  }
}
