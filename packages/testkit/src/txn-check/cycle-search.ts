import type { ConsistencyModel, CycleKind } from "./consistency-model.ts";
import {
  type DependencyGraph,
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

/** Cycle search over a dependency graph: which cycles to look for and where to send each one found. */
export interface CycleSearch {
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
 * cycles that need an rt edge. One example cycle per SCC and class. Returns whether the G-nonadjacent
 * search ran out of budget (then a cycle reported as G2 might have been G-nonadjacent).
 */
export function findCycles(graph: DependencyGraph, search: CycleSearch): { exhausted: boolean } {
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

  return { exhausted: budget.left <= 0 };

  function pick(step: { edge: Edge; rw: boolean }): EdgeType {
    return step.rw ? "rw" : labelOf(step.edge.mask & ~RW);
  }
}

/**
 * The pure rw edges a->b inside an SCC of `full` for which b reaches a over `base` edges (a cycle with
 * exactly one anti-dependency). With `plainBase` (real-time pass) only those that need `base`'s extra
 * edges: b must not reach a over `plainBase`.
 */
function singleAntiDependency(
  graph: DependencyGraph,
  full: { comp: Int32Array },
  base: number,
  plainBase: number | undefined,
): Edge[] {
  const candidates: Edge[] = [];
  forEachEdge(graph, (e) => {
    if ((e.mask & RW) !== 0 && (e.mask & base) === 0 && full.comp[e.from] === full.comp[e.to]) {
      candidates.push(e);
    }
  });
  if (candidates.length === 0) return [];
  const reaches = closesCycle(graph, base, candidates);
  const plainReaches = plainBase === undefined ? undefined : closesCycle(graph, plainBase, candidates);
  return candidates.filter((_, i) => reaches[i] === 1 && plainReaches?.[i] !== 1);
}

/** Bits of reachability kept at once: bounds memory on large anomalous histories (32 MB). */
const BITSET_WORDS = 8 * 1024 * 1024;

/**
 * For each candidate edge a->b, 1 if b reaches a over `allowed` edges. Bitsets over the condensation
 * (one bit per distinct target component), filled sinks first so each successor is final when read;
 * targets are done in chunks so the bitsets fit in BITSET_WORDS.
 */
export function closesCycle(
  graph: DependencyGraph,
  allowed: number,
  candidates: Edge[],
  maxWords = BITSET_WORDS,
): Uint8Array {
  const comps = stronglyConnected(graph, allowed);
  const count = comps.sizes.length;
  const members: number[][] = Array.from({ length: count }, () => []);
  for (let v = 0; v < graph.size; v++) members[comps.comp[v]!]!.push(v);
  const targets = [...new Set(candidates.map((e) => comps.comp[e.from]!))];
  const result = new Uint8Array(candidates.length);
  const chunkBits = Math.max(32, Math.floor(maxWords / count) * 32);
  for (let first = 0; first < targets.length; first += chunkBits) {
    const chunk = targets.slice(first, first + chunkBits);
    const bitOf = new Map(chunk.map((c, i) => [c, i]));
    const words = Math.ceil(chunk.length / 32);
    const bits = new Uint32Array(count * words);
    for (let c = 0; c < count; c++) {
      const row = c * words;
      const own = bitOf.get(c);
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
    for (const [i, e] of candidates.entries()) {
      const bit = bitOf.get(comps.comp[e.from]!);
      if (bit === undefined) continue;
      if ((bits[comps.comp[e.to]! * words + (bit >>> 5)]! & (1 << (bit & 31))) !== 0) result[i] = 1;
    }
  }
  return result;
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
