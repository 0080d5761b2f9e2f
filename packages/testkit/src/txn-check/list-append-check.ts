/**
 * Elle-style list-append check (Kingsbury & Alvaro, "Elle: Inferring Isolation Anomalies from
 * Experimental Observations", VLDB 2020). Every value is appended once, so each read names the appends it
 * saw and their order; the longest read of a key gives that key's version order, from which the
 * write-write, write-read and read-write (anti-)dependencies follow; real-time order adds edges from a
 * transaction's completion to every transaction invoked later. A cycle in that graph is a history no
 * serial order explains; its edge types say which isolation level it breaks.
 *
 * Consistency models (what counts as an error; everything else found is reported with severity "info"):
 * - every model forbids the non-cycle anomalies: G1a (aborted read), G1b (intermediate read), lost
 *   update, internal inconsistency, incompatible orders, duplicates, garbage reads;
 * - "si" forbids the cycles G0 (ww only), G1c (ww + wr), G-single (exactly one rw edge: read skew) and
 *   G-nonadjacent (several rw edges, no two of them adjacent: Fekete et al. show every cycle of an SI
 *   history has two consecutive rw edges). A G2 cycle with adjacent rw edges (write skew) is allowed;
 * - "strong-si" is SI in which a transaction sees everything that completed before it was invoked: it
 *   also forbids G0, G1c and G-single cycles that need real-time edges (G0-realtime, G1c-realtime,
 *   G-single-realtime). Cycles with several rw edges and real-time edges are not searched;
 * - "serializable" forbids every cycle over ww, wr and rw (G2 included); real time is ignored;
 * - "strict-serializable" forbids every cycle over ww, wr, rw and rt.
 * Indeterminate ("info") transactions may or may not have committed: their appends are not aborted
 * reads, they are graph nodes when something observed their effects, and they are never real-time
 * sources (nobody knows when they finished). Failed transactions are not nodes.
 */
import type { TxnId } from "./bank-check.ts";
import {
  DependencyGraph,
  type Edge,
  type EdgeType,
  nonadjacentPath,
  RT,
  RW,
  shortestPath,
  stronglyConnected,
  WR,
  WW,
} from "./dependency-graph.ts";
import type { ListAppendTxn, ListKey } from "./list-append-history.ts";
import { validateListAppendHistory } from "./list-append-history.ts";

export type ConsistencyModel = "si" | "strong-si" | "serializable" | "strict-serializable";

export interface ListAppendCheckOptions {
  /** The model the store promises (default "strong-si"). */
  readonly consistency?: ConsistencyModel;
  /** Keep at most this many anomalies of each kind (default 10); `counts` counts them all. */
  readonly maxPerKind?: number;
  /** States the G-nonadjacent search may visit over the whole check (default 2,000,000). */
  readonly searchBudget?: number;
}

export type CycleKind =
  | "G0"
  | "G1c"
  | "G-single"
  | "G-nonadjacent"
  | "G2"
  | "G0-realtime"
  | "G1c-realtime"
  | "G-single-realtime"
  | "G-nonadjacent-realtime"
  | "G2-realtime";

export type ListAppendAnomalyKind =
  | CycleKind
  /** An ok transaction read a value appended by a failed transaction. */
  | "G1a"
  /** An ok transaction read a list ending in a value its writer followed with another append to that key. */
  | "G1b"
  /** Two committed transactions read the same version of a key and both appended to it. */
  | "lost-update"
  /** Two reads of a key where neither is a prefix of the other: no single version order exists. */
  | "incompatible-order"
  /** One value appended twice to a key (the workload broke its own uniqueness rule, or the store replayed it). */
  | "duplicate-appends"
  /** A read that holds one value twice. */
  | "duplicate-elements"
  /** A read holding a value no transaction appended to that key. */
  | "garbage-read"
  /** A transaction's read disagrees with its own earlier read and appends of that key. */
  | "internal";

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
    readonly edges: { readonly ww: number; readonly wr: number; readonly rw: number; readonly rt: number };
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
      if (!external) {
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

  findCycles(graph, {
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
    },
  };
}

/** Whether `model` forbids anomalies of `kind`. */
export function forbids(model: ConsistencyModel, kind: ListAppendAnomalyKind): boolean {
  switch (kind) {
    case "G2":
      return model === "serializable" || model === "strict-serializable";
    case "G2-realtime":
    case "G-nonadjacent-realtime":
      return model === "strict-serializable";
    case "G0-realtime":
    case "G1c-realtime":
    case "G-single-realtime":
      return model === "strong-si" || model === "strict-serializable";
    default:
      return true;
  }
}

interface CycleSearch {
  readonly isTxn: (node: number) => boolean;
  readonly consistency: ConsistencyModel;
  readonly searchBudget: number;
  readonly onCycle: (kind: CycleKind, cycle: { edge: Edge; type: EdgeType }[]) => void;
}

/**
 * Finds cycles class by class, each exactly (not by sampling): G0 in the ww graph; G1c through a wr edge
 * inside an SCC of ww+wr; G-single through an rw edge a->b whose b reaches a over ww+wr (reachability
 * by bitsets over the condensation); then, per remaining SCC of the full graph, G-nonadjacent (budgeted
 * search) or G2. With real time, the same again with rt counted among the non-rw edges, keeping only
 * cycles that need an rt edge. One example cycle per SCC and class.
 */
function findCycles(graph: DependencyGraph, search: CycleSearch): void {
  const realtime = search.consistency === "strong-si" || search.consistency === "strict-serializable";
  const budget = { left: search.searchBudget };
  const seen = new Set<string>();
  const emit = (cycle: { edge: Edge; type: EdgeType }[], nonadjacent = false) => {
    const kind = classify(cycle, nonadjacent);
    const key =
      kind +
      ":" +
      cycle
        .map((c) => c.edge.from)
        .sort((a, b) => a - b)
        .join(",");
    if (seen.has(key)) return;
    seen.add(key);
    search.onCycle(kind, cycle);
  };

  for (const withRt of realtime ? [false, true] : [false]) {
    const rt = withRt ? RT : 0;
    // Without real time: G0 through a ww edge in the ww graph, G1c through a pure wr edge in ww+wr.
    // With it: a cycle through an rt edge (every rt edge touches a completion node, so such a cycle
    // needs real time), first in ww+rt (G0-realtime), then in ww+wr+rt (G1c-realtime).
    const layers: { allowed: number; starts: (e: Edge) => boolean; type: EdgeType }[] = withRt
      ? [
          { allowed: WW | RT, starts: (e) => e.mask === RT, type: "rt" },
          { allowed: WW | WR | RT, starts: (e) => e.mask === RT, type: "rt" },
        ]
      : [
          { allowed: WW, starts: (e) => (e.mask & WW) !== 0, type: "ww" },
          { allowed: WW | WR, starts: (e) => (e.mask & (WW | WR)) === WR, type: "wr" },
        ];
    for (const layer of layers) {
      const comps = stronglyConnected(graph, layer.allowed);
      const done = new Set<number>();
      forEachEdge(graph, (e) => {
        const c = comps.comp[e.from]!;
        if (done.has(c) || comps.comp[e.to] !== c || !layer.starts(e)) return;
        const path = shortestPath(graph, e.to, e.from, layer.allowed, (v) => comps.comp[v] === c);
        if (path === undefined) return;
        done.add(c);
        emit([{ edge: e, type: layer.type }, ...labelled(path, layer.allowed)]);
      });
    }

    // One anti-dependency: a pure rw edge a->b where b reaches a over `base` (with real time: only
    // where b does not already reach a without it).
    const base = WW | WR | rt;
    const full = stronglyConnected(graph, base | RW);
    const closed = new Set<number>();
    for (const e of singleAntiDependency(graph, full, base, withRt ? WW | WR : undefined)) {
      const c = full.comp[e.from]!;
      if (closed.has(c)) continue;
      const path = shortestPath(graph, e.to, e.from, base, (v) => full.comp[v] === c);
      if (path === undefined) continue;
      closed.add(c);
      emit([{ edge: e, type: "rw" }, ...labelled(path, base)]);
    }
    if (withRt && search.consistency !== "strict-serializable") continue;

    // Several anti-dependencies, once per SCC without a single-rw cycle (with real time: only SCCs
    // that hold a completion node, the others were searched without it).
    const timed = new Set<number>();
    if (withRt) for (let v = 0; v < graph.size; v++) if (!search.isTxn(v)) timed.add(full.comp[v]!);
    const tried = new Set<number>();
    forEachEdge(graph, (e) => {
      const c = full.comp[e.from]!;
      if (closed.has(c) || tried.has(c) || full.comp[e.to] !== c || (e.mask & (base | RW)) !== RW) return;
      if (withRt && !timed.has(c)) return;
      tried.add(c);
      const inside = (v: number) => full.comp[v] === c;
      const nonadjacent = nonadjacentPath(graph, e.to, e.from, base, inside, budget);
      if (nonadjacent !== undefined) {
        emit([{ edge: e, type: "rw" }, ...nonadjacent.map((s) => ({ edge: s.edge, type: pick(s) }))], true);
        return;
      }
      const path = shortestPath(graph, e.to, e.from, base | RW, inside);
      if (path !== undefined) emit([{ edge: e, type: "rw" }, ...labelled(path, base | RW)]);
    });
  }

  function pick(step: { edge: Edge; rw: boolean }): EdgeType {
    return step.rw ? "rw" : labelOf(step.edge.mask & ~RW);
  }
}

/**
 * The pure rw edges a->b inside an SCC of `full` for which b reaches a over `base` edges (a cycle with
 * exactly one anti-dependency). With `plainBase` (real-time pass) only those that need `base`'s extra
 * edges: b must not reach a over `plainBase`. Reachability: per SCC of `full`, bitsets over the
 * condensation of `base`, filled in reverse topological order.
 */
function singleAntiDependency(
  graph: DependencyGraph,
  full: { comp: Int32Array },
  base: number,
  plainBase: number | undefined,
): Edge[] {
  const candidates: Edge[] = [];
  forEachEdge(graph, (e) => {
    if ((e.mask & RW) !== 0 && (e.mask & base) === 0 && full.comp[e.from] === full.comp[e.to])
      candidates.push(e);
  });
  if (candidates.length === 0) return [];
  const reaches = reachability(graph, base, candidates);
  const plainReaches = plainBase === undefined ? undefined : reachability(graph, plainBase, candidates);
  return candidates.filter((e) => reaches(e.to, e.from) && !(plainReaches?.(e.to, e.from) ?? false));
}

/** Answers "does `from` reach `to` over `allowed` edges" for the targets named by the candidates' sources. */
function reachability(
  graph: DependencyGraph,
  allowed: number,
  candidates: Edge[],
): (from: number, to: number) => boolean {
  const comps = stronglyConnected(graph, allowed);
  const targetIndex = new Map<number, number>();
  for (const e of candidates) {
    const c = comps.comp[e.from]!;
    if (!targetIndex.has(c)) targetIndex.set(c, targetIndex.size);
  }
  const words = Math.ceil(targetIndex.size / 32);
  const count = comps.sizes.length;
  const members: number[][] = Array.from({ length: count }, () => []);
  for (let v = 0; v < graph.size; v++) members[comps.comp[v]!]!.push(v);
  // Components are numbered sinks first, so every successor's bits are final when a component is done.
  const bits = new Uint32Array(count * words);
  for (let c = 0; c < count; c++) {
    const row = c * words;
    const own = targetIndex.get(c);
    if (own !== undefined) bits[row + (own >>> 5)]! |= 1 << (own & 31);
    for (const v of members[c]!) {
      for (const e of graph.out[v]!) {
        if ((e.mask & allowed) === 0) continue;
        const d = comps.comp[e.to]!;
        if (d === c) continue;
        const other = d * words;
        for (let w = 0; w < words; w++) bits[row + w]! |= bits[other + w]!;
      }
    }
  }
  return (from, to) => {
    const target = targetIndex.get(comps.comp[to]!);
    if (target === undefined) return false;
    return (bits[comps.comp[from]! * words + (target >>> 5)]! & (1 << (target & 31))) !== 0;
  };
}

function forEachEdge(graph: DependencyGraph, visit: (e: Edge) => void): void {
  for (const edges of graph.out) for (const e of edges) visit(e);
}

/** Labels each path edge with its strongest relation among `allowed` (ww before wr before rt before rw). */
function labelled(path: Edge[], allowed: number): { edge: Edge; type: EdgeType }[] {
  return path.map((edge) => ({ edge, type: labelOf(edge.mask & allowed) }));
}

function labelOf(mask: number): EdgeType {
  if (mask & WW) return "ww";
  if (mask & WR) return "wr";
  if (mask & RT) return "rt";
  return "rw";
}

function classify(cycle: { type: EdgeType }[], nonadjacent: boolean): CycleKind {
  const rw = cycle.filter((s) => s.type === "rw").length;
  const suffix = cycle.some((s) => s.type === "rt") ? "-realtime" : "";
  const base =
    rw === 0
      ? cycle.some((s) => s.type === "wr")
        ? "G1c"
        : "G0"
      : rw === 1
        ? "G-single"
        : nonadjacent
          ? "G-nonadjacent"
          : "G2";
  return (base + suffix) as CycleKind;
}

function cycleMeaning(kind: CycleKind): string {
  const base = kind.replace("-realtime", "");
  const what: Record<string, string> = {
    G0: "Write cycle: the transactions' appends interleave, so no order of whole transactions installs them",
    G1c: "Circular information flow: each transaction saw or overwrote the effects of the next",
    "G-single":
      "Read skew: exactly one anti-dependency closes the cycle, so some transaction saw a state that mixes before and after another",
    "G-nonadjacent":
      "A cycle whose anti-dependencies are never adjacent, which snapshot isolation rules out (Fekete et al.)",
    G2: "Anti-dependency cycle with adjacent rw edges (write skew): allowed by snapshot isolation, not by serializability",
  };
  const rt = kind.endsWith("-realtime")
    ? " It needs real-time edges: a transaction missed the effects of one that had completed before it was invoked."
    : "";
  return `${what[base]}.${rt}`;
}

interface Step {
  readonly from: number;
  readonly to: number;
  readonly type: EdgeType;
  readonly text: string;
}

/** Turns a cycle over graph nodes into steps between transactions, merging real-time hops. */
function describeCycle(
  cycle: { edge: Edge; type: EdgeType }[],
  isTxn: (v: number) => boolean,
  label: (t: number) => string,
  history: readonly ListAppendTxn[],
): Step[] {
  // Rotate so the cycle starts at a transaction node.
  const start = cycle.findIndex((s) => isTxn(s.edge.from));
  const steps = [...cycle.slice(start), ...cycle.slice(0, start)];
  const out: Step[] = [];
  for (let i = 0; i < steps.length; i++) {
    const { edge, type } = steps[i]!;
    if (type !== "rt") {
      out.push({ from: edge.from, to: edge.to, type, text: explainEdge(edge, type, label) });
      continue;
    }
    let j = i;
    while (!isTxn(steps[j]!.edge.to)) j++;
    const from = edge.from;
    const to = steps[j]!.edge.to;
    const completed = history[from]!.completeMs!;
    out.push({
      from,
      to,
      type: "rt",
      text: `${label(from)} completed at ${completed} ms, before ${label(to)} was invoked at ${history[to]!.invokeMs} ms (rt)`,
    });
    i = j;
  }
  return out;
}

function explainEdge(edge: Edge, type: EdgeType, label: (t: number) => string): string {
  const why = edge.why.find((w) => w.type === type)!;
  const a = label(edge.from);
  const b = label(edge.to);
  switch (why.type) {
    case "ww":
      return why.unread
        ? `${b} committed an append of ${why.next} to key ${String(why.key)} that no read saw, so it follows ` +
            `${a}'s ${why.value}, the last element read (ww)`
        : `${b} appended ${why.next} to key ${String(why.key)} right after ${a}'s ${why.value} (ww)`;
    case "wr":
      return `${b} read key ${String(why.key)} ending in ${why.value}, which ${a} appended (wr)`;
    case "rw":
      return (
        `${a} read key ${String(why.key)} ` +
        (why.read === null ? "as empty" : `ending in ${why.read}`) +
        (why.unread
          ? `, and ${b} committed an append of ${why.next} that no read saw, so it came later (rw)`
          : `, and ${b} appended the next element ${why.next} (rw)`)
      );
    case "rt":
      return `${a} completed before ${b} was invoked (rt)`;
  }
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
