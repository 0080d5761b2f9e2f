/**
 * Elle-style list-append check (Kingsbury & Alvaro, "Elle: Inferring Isolation Anomalies from
 * Experimental Observations", VLDB 2020). Every value is appended once, so each read names the appends it
 * saw and their order; the longest read of a key gives that key's version order, from which the
 * write-write, write-read and read-write (anti-)dependencies follow; real-time order adds edges from a
 * transaction's completion to every transaction invoked later. A cycle in that graph is a history no
 * serial order explains; its edge types say which isolation level it breaks.
 *
 * Indeterminate ("info") transactions may or may not have committed: their appends are not aborted
 * reads, they are graph nodes when something observed their effects, and they are never real-time
 * sources (nobody knows when they finished). Failed transactions are not nodes.
 */
import type { TxnId } from "./bank-check.ts";
import { type ConsistencyModel, forbids, type ListAppendAnomalyKind } from "./consistency-model.ts";
import { cycleMeaning, describeCycle } from "./cycle-explanation.ts";
import { findCycles } from "./cycle-search.ts";
import { DependencyGraph, type EdgeType } from "./dependency-graph.ts";
import { type ListAppendTxn, type ListKey, validateListAppendHistory } from "./list-append-history.ts";

export interface ListAppendCheckOptions {
  /** The model the store promises (default "strong-si"). */
  readonly consistency?: ConsistencyModel | undefined;
  /** Keep at most this many anomalies of each kind (default 10); `counts` counts them all. */
  readonly maxPerKind?: number | undefined;
  /** States the G-nonadjacent search may visit over the whole check (default 2,000,000). */
  readonly searchBudget?: number | undefined;
}

/** One edge of a reported cycle, between real transactions (real-time hops are merged into one step). */
export interface CycleStep {
  readonly from: TxnId;
  readonly to: TxnId;
  readonly type: EdgeType;
  readonly explanation: string;
}

export interface ListAppendAnomaly {
  readonly kind: ListAppendAnomalyKind;
  /** "error" if the chosen consistency model forbids it, "info" otherwise. */
  readonly severity: "error" | "info";
  readonly txns: TxnId[];
  readonly cycle?: CycleStep[];
  readonly explanation: string;
}

export interface ListAppendCheckResult {
  /** No anomaly of severity "error". */
  readonly ok: boolean;
  readonly consistency: ConsistencyModel;
  readonly anomalies: ListAppendAnomaly[];
  /** Anomalies found per kind, including those left out of `anomalies` by maxPerKind. */
  readonly counts: Partial<Record<ListAppendAnomalyKind, number>>;
  readonly stats: {
    readonly txns: number;
    readonly ok: number;
    readonly fail: number;
    readonly info: number;
    readonly keys: number;
    /** Graph edges per relation; rt edges run through one completion node per ok transaction. */
    readonly edges: { readonly ww: number; readonly wr: number; readonly rw: number; readonly rt: number };
    /** The G-nonadjacent search hit `searchBudget`: a cycle reported as G2 might be G-nonadjacent. */
    readonly searchExhausted: boolean;
  };
}

interface Writer {
  readonly txn: number;
  /** Whether this is the writer's last append to the key within its transaction. */
  readonly last: boolean;
}

interface ObservedRead {
  readonly txn: number;
  readonly list: readonly number[];
  /** The transaction's first access to the key, before any append of its own to it. */
  readonly external: boolean;
}

/** Checks a list-append history; throws TxnHistoryError if it is malformed. */
export function checkListAppend(
  history: readonly ListAppendTxn[],
  options: ListAppendCheckOptions = {},
): ListAppendCheckResult {
  validateListAppendHistory(history);
  const consistency = options.consistency ?? "strong-si";
  const maxPerKind = options.maxPerKind ?? 10;
  const n = history.length;
  const anomalies: ListAppendAnomaly[] = [];
  const counts: Partial<Record<ListAppendAnomalyKind, number>> = {};
  const name = (t: number): TxnId => history[t]!.txnId;
  const label = (t: number): string => `txn ${String(name(t))}`;
  const report = (kind: ListAppendAnomalyKind, txns: number[], explanation: string, cycle?: CycleStep[]) => {
    counts[kind] = (counts[kind] ?? 0) + 1;
    if (counts[kind]! > maxPerKind) return;
    const severity = forbids(consistency, kind) ? "error" : "info";
    const anomaly: ListAppendAnomaly = { kind, severity, txns: txns.map(name), explanation };
    anomalies.push(cycle === undefined ? anomaly : { ...anomaly, cycle });
  };

  // Who appended each value. A failed transaction's append never happened, so a client may retry the
  // same value: only two appends by transactions that may have committed (ok or info) are duplicates.
  const writers = new Map<ListKey, Map<number, Writer>>();
  const appendsOf = history.map((txn) => {
    const byKey = new Map<ListKey, number[]>();
    for (const op of txn.ops) {
      if (op.f !== "append") continue;
      const list = byKey.get(op.key);
      if (list === undefined) byKey.set(op.key, [op.value]);
      else list.push(op.value);
    }
    return byKey;
  });
  for (const pass of ["may-commit", "failed"] as const) {
    for (let t = 0; t < n; t++) {
      if ((history[t]!.status === "fail") !== (pass === "failed")) continue;
      for (const [key, values] of appendsOf[t]!) {
        const byValue = entry(writers, key, () => new Map<number, Writer>());
        for (const [i, value] of values.entries()) {
          const first = byValue.get(value);
          if (first === undefined) {
            byValue.set(value, { txn: t, last: i === values.length - 1 });
          } else if (pass === "may-commit") {
            report(
              "duplicate-appends",
              first.txn === t ? [t] : [first.txn, t],
              `${value} was appended to key ${String(key)} by ${label(first.txn)}` +
                (first.txn === t ? " twice" : ` and again by ${label(t)}`),
            );
          }
        }
      }
    }
  }
  const writerOf = (key: ListKey, value: number) => writers.get(key)?.get(value);
  const failed = (t: number) => history[t]!.status === "fail";

  // Reads of ok transactions, per key, with internal consistency checked on the way.
  const readsByKey = new Map<ListKey, ObservedRead[]>();
  for (let t = 0; t < n; t++) {
    const txn = history[t]!;
    if (txn.status !== "ok") continue;
    // Per key: the list as last read (undefined if not read yet) and the txn's appends since.
    const known = new Map<ListKey, { read: readonly number[] | undefined; since: number[] }>();
    for (const op of txn.ops) {
      const state = entry(known, op.key, () => ({
        read: undefined as readonly number[] | undefined,
        since: [] as number[],
      }));
      if (op.f === "append") {
        state.since.push(op.value);
        continue;
      }
      const list = op.value ?? [];
      const external = state.read === undefined && state.since.length === 0;
      if (external) {
        // Its first look at the key cannot hold what it appends later.
        const own = appendsOf[t]!.get(op.key)?.find((v) => list.includes(v));
        if (own !== undefined) {
          report(
            "internal",
            [t],
            `${label(t)} read key ${String(op.key)} = ${show(list)}, which holds ${own}, an append it made only later`,
          );
        }
      } else {
        const expected = state.read === undefined ? undefined : [...state.read, ...state.since];
        const consistent = expected === undefined ? endsWith(list, state.since) : sameList(list, expected);
        if (!consistent) {
          report(
            "internal",
            [t],
            `${label(t)} read key ${String(op.key)} = ${show(list)}, but expected ` +
              (expected === undefined
                ? `it to end with its own appends ${show(state.since)}`
                : `${show(expected)} from its earlier read and appends`),
          );
        }
      }
      state.read = list;
      state.since = [];
      entry(readsByKey, op.key, () => []).push({ txn: t, list, external });
    }
  }

  // Version order per key: the longest read, when every read is a prefix of it.
  const versionOrder = new Map<ListKey, readonly number[]>();
  for (const [key, reads] of readsByKey) {
    let longest = reads[0]!;
    for (const r of reads) if (r.list.length > longest.list.length) longest = r;
    let compatible = true;
    const irregular: ObservedRead[] = [longest];
    for (const r of reads) {
      if (r !== longest && !startsWith(longest.list, r.list)) {
        compatible = false;
        irregular.push(r);
        report(
          "incompatible-order",
          [r.txn, longest.txn],
          `key ${String(key)}: ${label(r.txn)} read ${show(r.list)} and ${label(longest.txn)} read ` +
            `${show(longest.list)}; neither is a prefix of the other`,
        );
      }
    }
    if (compatible) versionOrder.set(key, longest.list);
    // A prefix read holds a subset of the longest read's elements, so the longest speaks for it for
    // duplicates and garbage; aborted reads are reported per reader (each is its own dirty read).
    for (const r of irregular) checkElements(key, r);
    if (compatible) {
      const abortedAt = longest.list.findIndex((v) => {
        const w = writerOf(key, v);
        return w !== undefined && failed(w.txn);
      });
      if (abortedAt >= 0)
        for (const r of reads) if (r.list.length > abortedAt) reportAborted(key, r, abortedAt);
    } else {
      for (const r of reads) {
        const at = r.list.findIndex((v) => {
          const w = writerOf(key, v);
          return w !== undefined && failed(w.txn);
        });
        if (at >= 0) reportAborted(key, r, at);
      }
    }
  }

  function reportAborted(key: ListKey, r: ObservedRead, at: number): void {
    const value = r.list[at]!;
    const w = writerOf(key, value)!;
    report(
      "G1a",
      [r.txn, w.txn],
      `${label(r.txn)} read key ${String(key)} = ${show(r.list)}, which holds ${value}, appended by ` +
        `${label(w.txn)}, which failed`,
    );
  }

  function checkElements(key: ListKey, r: ObservedRead): void {
    const seen = new Set<number>();
    for (const value of r.list) {
      if (seen.has(value)) {
        report(
          "duplicate-elements",
          [r.txn],
          `${label(r.txn)} read key ${String(key)} = ${show(r.list)}, which holds ${value} twice`,
        );
        break;
      }
      seen.add(value);
    }
    const garbage = r.list.find((v) => writerOf(key, v) === undefined);
    if (garbage !== undefined) {
      report(
        "garbage-read",
        [r.txn],
        `${label(r.txn)} read key ${String(key)} = ${show(r.list)}, but no transaction appended ${garbage} to it`,
      );
    }
  }

  // G1b and lost updates, from each ok transaction's first read of a key.
  const readModifyWrites = new Map<ListKey, Map<number | null, number[]>>();
  for (const [key, reads] of readsByKey) {
    for (const r of reads) {
      if (!r.external) continue;
      const lastValue = r.list.length === 0 ? null : r.list[r.list.length - 1]!;
      if (lastValue !== null) {
        const w = writerOf(key, lastValue);
        if (w !== undefined && w.txn !== r.txn && !w.last && !failed(w.txn)) {
          report(
            "G1b",
            [r.txn, w.txn],
            `${label(r.txn)} read key ${String(key)} = ${show(r.list)}, ending in ${lastValue}, but ` +
              `${label(w.txn)} appended ${show(appendsOf[w.txn]!.get(key)!)} to it: an intermediate state`,
          );
        }
      }
      if (appendsOf[r.txn]!.has(key)) {
        const byVersion = entry(readModifyWrites, key, () => new Map<number | null, number[]>());
        entry(byVersion, lastValue, () => []).push(r.txn);
      }
    }
  }
  for (const [key, byVersion] of readModifyWrites) {
    for (const [lastValue, txns] of byVersion) {
      if (txns.length < 2) continue;
      report(
        "lost-update",
        txns,
        `${txns.map(label).join(", ")} all read key ${String(key)} ` +
          (lastValue === null ? "empty" : `ending in ${lastValue}`) +
          ` and each appended to it; at most one of them may commit`,
      );
    }
  }

  // The graph: transactions 0..n-1, then one completion node per ok transaction, in time order.
  const completions = history
    .map((txn, t) => ({ t, at: txn.completeMs }))
    .filter((c): c is { t: number; at: number } => history[c.t]!.status === "ok" && c.at !== undefined)
    .sort((a, b) => a.at - b.at);
  const graph = new DependencyGraph(n + completions.length);
  const isTxn = (node: number) => node < n;
  const completionAt = completions.map((c) => c.at);

  // A committed append no read saw still happened, after every element any read saw (lists only grow).
  const unobserved = new Map<ListKey, Map<number, number>>();
  for (const [key, order] of versionOrder) {
    const inOrder = new Set(order);
    const later = new Map<number, number>();
    for (const [value, w] of writers.get(key) ?? []) {
      if (!inOrder.has(value) && history[w.txn]!.status === "ok" && !later.has(w.txn))
        later.set(w.txn, value);
    }
    if (later.size > 0) unobserved.set(key, later);
  }

  for (const [key, order] of versionOrder) {
    // ww between consecutive elements of distinct, non-failed writers, then to the unobserved appends.
    let prev: { txn: number; value: number } | undefined;
    for (const value of order) {
      const w = writerOf(key, value);
      if (w === undefined || failed(w.txn)) continue;
      if (prev !== undefined) graph.add(prev.txn, w.txn, { type: "ww", key, value: prev.value, next: value });
      prev = { txn: w.txn, value };
    }
    if (prev === undefined) continue;
    for (const [t, value] of unobserved.get(key) ?? []) {
      graph.add(prev.txn, t, { type: "ww", key, value: prev.value, next: value, unread: true });
    }
  }
  for (const [key, reads] of readsByKey) {
    const order = versionOrder.get(key);
    for (const r of reads) {
      if (!r.external) continue;
      const lastValue = r.list.length === 0 ? null : r.list[r.list.length - 1]!;
      const lastWriter = lastValue === null ? undefined : writerOf(key, lastValue);
      if (lastValue !== null && lastWriter !== undefined && !failed(lastWriter.txn)) {
        graph.add(lastWriter.txn, r.txn, { type: "wr", key, value: lastValue });
      }
      if (order === undefined) continue;
      // rw to the next distinct writer after the version read (skipping the rest of an intermediate
      // read); a read of the newest version observed precedes every unobserved committed append.
      let next = false;
      for (let i = r.list.length; i < order.length && !next; i++) {
        const w = writerOf(key, order[i]!);
        if (w === undefined || failed(w.txn) || w.txn === lastWriter?.txn) continue;
        if (w.txn !== r.txn) graph.add(r.txn, w.txn, { type: "rw", key, read: lastValue, next: order[i]! });
        next = true;
      }
      if (next) continue;
      for (const [t, value] of unobserved.get(key) ?? []) {
        if (t === r.txn || t === lastWriter?.txn) continue;
        graph.add(r.txn, t, { type: "rw", key, read: lastValue, next: value, unread: true });
      }
    }
  }
  const usesRealtime = consistency === "strong-si" || consistency === "strict-serializable";
  if (usesRealtime) {
    // T -> completion(T) -> later completions -> every txn invoked after: O(n) edges for all of real time.
    for (const [i, c] of completions.entries()) {
      graph.add(c.t, n + i, { type: "rt", atMs: c.at });
      if (i > 0) graph.add(n + i - 1, n + i, { type: "rt", atMs: c.at });
    }
    for (let t = 0; t < n; t++) {
      const txn = history[t]!;
      if (txn.status === "fail") continue;
      const before = lastBelow(completionAt, txn.invokeMs);
      if (before >= 0) graph.add(n + before, t, { type: "rt", atMs: txn.invokeMs });
    }
  }

  const search = findCycles(graph, {
    isTxn,
    consistency,
    searchBudget: options.searchBudget ?? 2_000_000,
    onCycle: (kind, cycle) => {
      const steps = describeCycle(cycle, isTxn, label, history);
      const txns = steps.map((s) => s.from as number);
      report(
        kind,
        txns,
        `${kind} cycle of ${txns.length} transactions: ` +
          steps.map((s) => s.text).join("; ") +
          `. ${cycleMeaning(kind)}`,
        steps.map((s) => ({ from: name(s.from), to: name(s.to), type: s.type, explanation: s.text })),
      );
    },
  });

  const statusCount = (s: string) => history.filter((t) => t.status === s).length;
  return {
    ok: (Object.keys(counts) as ListAppendAnomalyKind[]).every((kind) => !forbids(consistency, kind)),
    consistency,
    anomalies,
    counts,
    stats: {
      txns: n,
      ok: statusCount("ok"),
      fail: statusCount("fail"),
      info: statusCount("info"),
      keys: new Set([...writers.keys(), ...readsByKey.keys()]).size,
      edges: { ...graph.counts },
      searchExhausted: search.exhausted,
    },
  };
}

/** The value at `key`, created by `make` when absent. */
function entry<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  let value = map.get(key);
  if (value === undefined) {
    value = make();
    map.set(key, value);
  }
  return value;
}

/** Index of the last element of ascending `values` strictly below `limit`, or -1. */
function lastBelow(values: number[], limit: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! < limit) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

function startsWith(list: readonly number[], prefix: readonly number[]): boolean {
  if (prefix.length > list.length) return false;
  for (let i = 0; i < prefix.length; i++) if (list[i] !== prefix[i]) return false;
  return true;
}

function endsWith(list: readonly number[], suffix: readonly number[]): boolean {
  if (suffix.length > list.length) return false;
  const offset = list.length - suffix.length;
  for (let i = 0; i < suffix.length; i++) if (list[offset + i] !== suffix[i]) return false;
  return true;
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && startsWith(a, b);
}

function show(list: readonly number[]): string {
  return list.length > 12
    ? `[${list.slice(0, 4).join(",")},...${list.length - 8} more...,${list.slice(-4).join(",")}]`
    : `[${list.join(",")}]`;
}
