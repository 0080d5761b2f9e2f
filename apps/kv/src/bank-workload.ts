import { Prng } from "@palf/core";
import { type Kv, KvError } from "@palf/kv";

/** Account names: acct-0000, acct-0001, ... (fixed width so scans return them in order). */
export function accountNames(n: number): string[] {
  const w = String(n - 1).length;
  return Array.from({ length: n }, (_, i) => `acct-${String(i).padStart(w, "0")}`);
}

/** Puts `balance` into every account, a few hundred keys per transaction. */
export async function initAccounts(kv: Kv, accounts: readonly string[], balance: number): Promise<void> {
  for (let i = 0; i < accounts.length; i += 500) {
    const chunk = accounts.slice(i, i + 500);
    await kv.txn(async (tx) => {
      for (const a of chunk) tx.put(a, String(balance));
    });
  }
}

/** A snapshot read of every account (one scan at one snapshot). */
export interface BankSnapshot {
  readonly txnId: string;
  readonly snapshot: number;
  readonly balances: Map<string, number>;
}

export interface BankResult {
  committed: number;
  /** Transfers given up (conflicts or aborts past the retry bound). */
  failed: number;
  indeterminate: number;
  unavailable: number;
  /** Latency of each committed transfer (ms), retries included. */
  readonly latenciesMs: number[];
  readonly snapshots: BankSnapshot[];
  /** txn id -> commit version of each acknowledged transfer that wrote. */
  readonly acked: Map<string, number>;
}

export interface BankOptions {
  readonly kv: Kv;
  readonly accounts: readonly string[];
  readonly concurrency: number;
  /** Runs until this returns true (checked between transfers). */
  readonly done: () => boolean;
  readonly seed?: number;
  /** Every this many transfers per worker, a snapshot read of every account. 0: none. */
  readonly snapshotEvery?: number;
  readonly maxAttempts?: number;
  readonly onCommit?: () => void;
}

/**
 * The bank workload: workers move 1..5 units between two random accounts (a read-modify-write of both,
 * usually on two partitions), never overdrawing, and now and then read every account at one snapshot.
 */
export async function runBank(o: BankOptions): Promise<BankResult> {
  const r: BankResult = {
    committed: 0,
    failed: 0,
    indeterminate: 0,
    unavailable: 0,
    latenciesMs: [],
    snapshots: [],
    acked: new Map(),
  };
  const worker = async (w: number) => {
    const rnd = new Prng((o.seed ?? 1) * 1000 + w);
    for (let i = 1; !o.done(); i++) {
      const from = rnd.pick(o.accounts);
      let to = rnd.pick(o.accounts);
      if (to === from) to = o.accounts[(o.accounts.indexOf(from) + 1) % o.accounts.length]!;
      const amount = rnd.int(1, 6);
      const t0 = performance.now();
      try {
        const res = await o.kv.transact(
          async (tx) => {
            // Both reads at once: they go to different partitions (and replicas) in parallel.
            const [fv, tv] = await Promise.all([tx.get(from), tx.get(to)]);
            const f = Number(fv);
            const t = Number(tv);
            if (f < amount) return;
            tx.put(from, String(f - amount));
            tx.put(to, String(t + amount));
          },
          { maxAttempts: o.maxAttempts ?? 20 },
        );
        r.committed++;
        r.latenciesMs.push(performance.now() - t0);
        if (res.commitVersion !== undefined) r.acked.set(res.txnId, res.commitVersion);
        o.onCommit?.();
      } catch (e) {
        const code = e instanceof KvError ? e.code : "";
        if (code === "CONFLICT" || code === "ABORTED") r.failed++;
        else if (code === "INDETERMINATE") r.indeterminate++;
        else r.unavailable++;
      }
      if (o.snapshotEvery && i % o.snapshotEvery === 0) {
        try {
          r.snapshots.push(await snapshotRead(o.kv, o.accounts.length));
        } catch {
          r.unavailable++;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, (_, w) => worker(w)));
  return r;
}

/** Every account's balance at one snapshot. */
export async function snapshotRead(kv: Kv, accounts: number): Promise<BankSnapshot> {
  const res = await kv.transact(async (tx) => {
    const items = await tx.scan({ prefix: "acct-" }, { limit: accounts + 1 });
    return new Map(items.map((i) => [i.key, Number(i.value)]));
  });
  return { txnId: res.txnId, snapshot: res.snapshot, balances: res.value };
}

/** The value at quantile q (0..1) of sorted-or-not numbers. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
}
