// Test support for the list-append check: builders for hand-written histories, and a seeded in-memory
// multi-version store that runs random list-append transactions under snapshot isolation (first
// committer wins) or serializably (reads validated at commit too), producing histories that must pass.
import { Prng } from "@palf/core";
import type { ListAppendMop, ListAppendTxn, ListKey, TxnStatus } from "./list-append-history.ts";

export const append = (key: ListKey, value: number): ListAppendMop => ({ f: "append", key, value });
export const read = (key: ListKey, value: number[] | null): ListAppendMop => ({ f: "r", key, value });

/** A transaction for hand-written histories: ok, on its own process, [invokeMs, completeMs] = at. */
export function txn(
  txnId: number,
  ops: ListAppendMop[],
  at: [number, number] = [0, 1],
  status: TxnStatus = "ok",
): ListAppendTxn {
  const base = { txnId, process: txnId, invokeMs: at[0], status, ops };
  return status === "info" ? base : { ...base, completeMs: at[1] };
}

export interface StoreRunOptions {
  readonly seed: number;
  readonly txns: number;
  /** Clients running at once (1 gives a serial history). */
  readonly processes: number;
  /**
   * "si": first committer wins on written keys; "serializable": read keys are validated too. Two broken
   * stores, to show the check catches them: "read-committed" reads the latest commit instead of the
   * snapshot; "no-first-committer" never aborts a conflicting write (lost updates).
   */
  readonly isolation: "si" | "serializable" | "read-committed" | "no-first-committer";
  /** Keys in use at once; keys rotate so lists stay short. */
  readonly activeKeys?: number;
  /** Chance a commit's answer is lost (status info; it took effect or not, at random). */
  readonly infoRate?: number;
  /** Chance the client aborts a transaction itself. */
  readonly abortRate?: number;
}

interface Version {
  readonly ts: number;
  readonly list: readonly number[];
}

interface Running {
  readonly txnId: number;
  readonly invokeMs: number;
  readonly snapshot: number;
  readonly planned: { f: "append" | "r"; key: ListKey }[];
  readonly ops: ListAppendMop[];
  readonly writes: Map<ListKey, number[]>;
  readonly reads: Set<ListKey>;
}

/**
 * Runs `txns` random transactions on a multi-version store, one step of one random client per clock
 * tick. A transaction's snapshot is taken after its invocation and its commit lands before its
 * completion, so the history is strong SI (isolation "si") or strictly serializable ("serializable").
 */
export function runStore(options: StoreRunOptions): ListAppendTxn[] {
  const rng = new Prng(options.seed);
  const activeKeys = options.activeKeys ?? 6;
  const infoRate = options.infoRate ?? 0.05;
  const abortRate = options.abortRate ?? 0.05;
  const versions = new Map<ListKey, Version[]>();
  const history: ListAppendTxn[] = [];
  const running: (Running | undefined)[] = Array.from({ length: options.processes }, () => undefined);
  let clock = 0;
  let started = 0;
  let nextValue = 1;

  const listAt = (key: ListKey, ts: number): readonly number[] => {
    const vs = versions.get(key) ?? [];
    for (let i = vs.length - 1; i >= 0; i--) if (vs[i]!.ts <= ts) return vs[i]!.list;
    return [];
  };
  const lastCommit = (key: ListKey): number => versions.get(key)?.at(-1)?.ts ?? -1;

  while (started < options.txns || running.some((r) => r !== undefined)) {
    clock++;
    const p = rng.int(0, options.processes);
    const r = running[p];
    if (r === undefined) {
      if (started >= options.txns) continue;
      // Keys rotate: the pool slides forward as transactions start, so each key sees a bounded list.
      const firstKey = Math.floor(started / 40);
      const planned = Array.from({ length: rng.int(1, 5) }, () => ({
        f: rng.chance(0.5) ? ("append" as const) : ("r" as const),
        key: `k${firstKey + rng.int(0, activeKeys)}`,
      }));
      running[p] = {
        txnId: started++,
        invokeMs: clock,
        snapshot: clock,
        planned,
        ops: [],
        writes: new Map(),
        reads: new Set(),
      };
      continue;
    }
    const step = r.planned[r.ops.length];
    if (step !== undefined) {
      if (step.f === "append") {
        const value = nextValue++;
        r.ops.push({ f: "append", key: step.key, value });
        r.writes.set(step.key, [...(r.writes.get(step.key) ?? []), value]);
      } else {
        const at = options.isolation === "read-committed" ? clock : r.snapshot;
        const seen = [...listAt(step.key, at), ...(r.writes.get(step.key) ?? [])];
        r.ops.push({ f: "r", key: step.key, value: seen.length === 0 ? null : seen });
        r.reads.add(step.key);
      }
      continue;
    }
    // Commit: first committer wins on every written key (and every read key when serializable).
    running[p] = undefined;
    const checked =
      options.isolation === "serializable"
        ? [...r.writes.keys(), ...r.reads]
        : options.isolation === "no-first-committer"
          ? []
          : [...r.writes.keys()];
    const conflict = checked.some((key) => lastCommit(key) > r.snapshot);
    const abort = conflict || rng.chance(abortRate);
    const lost = !abort && rng.chance(infoRate);
    const applied = !abort && (!lost || rng.chance(0.5));
    if (applied) {
      for (const [key, values] of r.writes) {
        const vs = versions.get(key) ?? [];
        vs.push({ ts: clock, list: [...listAt(key, clock), ...values] });
        versions.set(key, vs);
      }
    }
    const status: TxnStatus = abort ? "fail" : lost ? "info" : "ok";
    // What a client learns of a failed or unanswered transaction's reads is nothing.
    const ops = status === "ok" ? r.ops : r.ops.map((op) => (op.f === "r" ? { ...op, value: null } : op));
    const base = { txnId: r.txnId, process: p, invokeMs: r.invokeMs, status, ops };
    history.push(status === "info" ? base : { ...base, completeMs: clock + 1 });
    clock++;
  }
  // A final read of every key by a fresh client, so the last appends are observed.
  const finalOps: ListAppendMop[] = [...versions.keys()].map((key) => ({
    f: "r",
    key,
    value: [...listAt(key, clock)],
  }));
  history.push({
    txnId: options.txns,
    process: options.processes,
    invokeMs: clock + 1,
    completeMs: clock + 2,
    status: "ok",
    ops: finalOps,
  });
  return history;
}
