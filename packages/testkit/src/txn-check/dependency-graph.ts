import type { ListKey } from "./list-append-history.ts";

/**
 * The transaction dependency graph of Adya's formalism, as Elle builds it: nodes are transactions (plus
 * one node per completion on the real-time line), edges say "must come before", each labelled with the
 * relations that imply it. One object per ordered pair; its `mask` is the union of its relations.
 */

/** T1 -> T2: T2 appended the element after T1's (write-write). */
export const WW = 1;
/** T1 -> T2: T2 read a list whose last element T1 appended (write-read). */
export const WR = 2;
/** T1 -> T2: T1 read a version and T2 appended the element after it (read-write, anti-dependency). */
export const RW = 4;
/** T1 -> T2: T1 completed before T2 was invoked (real time), routed through completion nodes. */
export const RT = 8;

export type EdgeType = "ww" | "wr" | "rw" | "rt";

export const EDGE_BIT: Readonly<Record<EdgeType, number>> = { ww: WW, wr: WR, rw: RW, rt: RT };

/** Why an edge holds, kept for the first instance of each relation so a cycle can be explained. */
export type EdgeWhy =
  | {
      readonly type: "ww";
      readonly key: ListKey;
      readonly value: number;
      readonly next: number;
      /** `next` was read by nobody: it follows `value` (the last element read), not necessarily right after. */
      readonly unread?: true;
    }
  | { readonly type: "wr"; readonly key: ListKey; readonly value: number }
  | {
      readonly type: "rw";
      readonly key: ListKey;
      readonly read: number | null;
      readonly next: number;
      readonly unread?: true;
    }
  | { readonly type: "rt"; readonly atMs: number };

export interface Edge {
  readonly from: number;
  readonly to: number;
  mask: number;
  readonly why: EdgeWhy[];
}

export class DependencyGraph {
  /** Outgoing edges per node. */
  readonly out: Edge[][];
  private readonly byPair = new Map<number, Edge>();
  /** Edges added per relation (a pair with two relations counts in both). */
  readonly counts = { ww: 0, wr: 0, rw: 0, rt: 0 };

  constructor(readonly size: number) {
    this.out = Array.from({ length: size }, () => []);
  }

  add(from: number, to: number, why: EdgeWhy): void {
    if (from === to) return;
    const pair = from * this.size + to;
    const bit = EDGE_BIT[why.type];
    let edge = this.byPair.get(pair);
    if (edge === undefined) {
      edge = { from, to, mask: 0, why: [] };
      this.byPair.set(pair, edge);
      this.out[from]!.push(edge);
    }
    if ((edge.mask & bit) === 0) {
      edge.mask |= bit;
      edge.why.push(why);
      this.counts[why.type]++;
    }
  }
}

/** Strongly connected components over the edges whose mask meets `allowed`. */
export interface Components {
  /** Component id per node. Ids are in reverse topological order: an edge between two components goes
   * from a higher id to a lower one. */
  readonly comp: Int32Array;
  readonly sizes: number[];
}

/** Tarjan's algorithm, iterative (histories are deep enough to overflow the call stack). */
export function stronglyConnected(graph: DependencyGraph, allowed: number): Components {
  const n = graph.size;
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const comp = new Int32Array(n).fill(-1);
  const onStack = new Uint8Array(n);
  const stack: number[] = [];
  const sizes: number[] = [];
  const callNode: number[] = [];
  const callEdge: number[] = [];
  let next = 0;
  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue;
    callNode.push(root);
    callEdge.push(0);
    index[root] = low[root] = next++;
    stack.push(root);
    onStack[root] = 1;
    while (callNode.length > 0) {
      const top = callNode.length - 1;
      const v = callNode[top]!;
      const edges = graph.out[v]!;
      let descended = false;
      while (callEdge[top]! < edges.length) {
        const e = edges[callEdge[top]!++]!;
        if ((e.mask & allowed) === 0) continue;
        const w = e.to;
        if (index[w] === -1) {
          index[w] = low[w] = next++;
          stack.push(w);
          onStack[w] = 1;
          callNode.push(w);
          callEdge.push(0);
          descended = true;
          break;
        }
        if (onStack[w] && index[w]! < low[v]!) low[v] = index[w]!;
      }
      if (descended) continue;
      if (low[v] === index[v]) {
        const id = sizes.length;
        let size = 0;
        let w: number;
        do {
          w = stack.pop()!;
          onStack[w] = 0;
          comp[w] = id;
          size++;
        } while (w !== v);
        sizes.push(size);
      }
      callNode.pop();
      callEdge.pop();
      const parent = callNode[callNode.length - 1];
      if (parent !== undefined && low[v]! < low[parent]!) low[parent] = low[v]!;
    }
  }
  return { comp, sizes };
}

/**
 * Shortest path from `from` to `to` over edges meeting `allowed`, visiting only nodes for which `inside`
 * holds. Returns the edges in order, or undefined.
 */
export function shortestPath(
  graph: DependencyGraph,
  from: number,
  to: number,
  allowed: number,
  inside: (node: number) => boolean,
): Edge[] | undefined {
  if (from === to) return [];
  const parent = new Map<number, Edge>();
  let frontier = [from];
  const seen = new Set<number>([from]);
  while (frontier.length > 0) {
    const nextFrontier: number[] = [];
    for (const v of frontier) {
      for (const e of graph.out[v]!) {
        if ((e.mask & allowed) === 0 || seen.has(e.to) || !inside(e.to)) continue;
        seen.add(e.to);
        parent.set(e.to, e);
        if (e.to === to) return unwind(parent, from, to);
        nextFrontier.push(e.to);
      }
    }
    frontier = nextFrontier;
  }
  return undefined;
}

function unwind(parent: Map<number, Edge>, from: number, to: number): Edge[] {
  const path: Edge[] = [];
  for (let v = to; v !== from; ) {
    const e = parent.get(v)!;
    path.push(e);
    v = e.from;
  }
  return path.reverse();
}

/**
 * Shortest path from `from` to `to` in which no two consecutive edges are anti-dependencies, the first
 * edge is not one (the path follows an rw edge into `from`) and neither is the last (the cycle goes on
 * with that rw edge). Edges meeting `other` may be taken as non-rw; edges with RW as rw. Stops after
 * visiting `budget.left` states and returns undefined; `budget.left` is decremented as it goes.
 */
export function nonadjacentPath(
  graph: DependencyGraph,
  from: number,
  to: number,
  other: number,
  inside: (node: number) => boolean,
  budget: { left: number },
): { edge: Edge; rw: boolean }[] | undefined {
  // State = node * 2 + (1 if the edge into it was taken as rw).
  const parent = new Map<number, { edge: Edge; rw: boolean; prev: number }>();
  const start = from * 2 + 1;
  const goal = to * 2;
  const seen = new Set<number>([start]);
  let frontier = [start];
  while (frontier.length > 0 && budget.left > 0) {
    const nextFrontier: number[] = [];
    for (const state of frontier) {
      budget.left--;
      const v = state >> 1;
      const afterRw = (state & 1) === 1;
      for (const e of graph.out[v]!) {
        if (!inside(e.to)) continue;
        const moves: boolean[] = [];
        if ((e.mask & other) !== 0) moves.push(false);
        else if ((e.mask & RW) !== 0 && !afterRw) moves.push(true);
        for (const rw of moves) {
          const s = e.to * 2 + (rw ? 1 : 0);
          if (seen.has(s)) continue;
          seen.add(s);
          parent.set(s, { edge: e, rw, prev: state });
          if (s === goal) {
            const path: { edge: Edge; rw: boolean }[] = [];
            for (let x = goal; x !== start; ) {
              const p = parent.get(x)!;
              path.push({ edge: p.edge, rw: p.rw });
              x = p.prev;
            }
            return path.reverse();
          }
          nextFrontier.push(s);
        }
      }
    }
    frontier = nextFrontier;
  }
  return undefined;
}
