// The reachability behind G-single detection agrees with a plain search on random graphs, also when the
// bitsets are split into many small chunks; Tarjan's components are cycles exactly.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { closesCycle } from "./cycle-search.ts";
import {
  DependencyGraph,
  type EdgeWhy,
  RW,
  shortestPath,
  stronglyConnected,
  WR,
  WW,
} from "./dependency-graph.ts";

const randomGraph = fc
  .record({
    size: fc.integer({ min: 2, max: 40 }),
    edges: fc.array(fc.tuple(fc.nat(39), fc.nat(39), fc.integer({ min: 0, max: 2 })), { maxLength: 120 }),
  })
  .map(({ size, edges }) => {
    const graph = new DependencyGraph(size);
    for (const [a, b, t] of edges) {
      const why: EdgeWhy[] = [
        { type: "ww", key: "k", value: a, next: b },
        { type: "wr", key: "k", value: a },
        { type: "rw", key: "k", read: a, next: b },
      ];
      graph.add(a % size, b % size, why[t]!);
    }
    return graph;
  });

describe("cycle search building blocks", { timeout: 120_000 }, () => {
  it("closesCycle says b reaches a exactly when a path exists, with any chunking (fc seed 31)", () => {
    fc.assert(
      fc.property(randomGraph, fc.constantFrom(1, 2, 1 << 23), (graph, maxWords) => {
        const candidates = graph.out.flat().filter((e) => (e.mask & RW) !== 0);
        const result = closesCycle(graph, WW | WR, candidates, maxWords);
        candidates.forEach((e, i) => {
          const path = shortestPath(graph, e.to, e.from, WW | WR, () => true);
          expect(result[i], `${e.from}->${e.to}`).toBe(path === undefined ? 0 : 1);
        });
      }),
      { numRuns: 300, seed: 31 },
    );
  });

  it("puts two nodes in one component exactly when each reaches the other (fc seed 32)", () => {
    fc.assert(
      fc.property(randomGraph, (graph) => {
        const { comp } = stronglyConnected(graph, WW | WR | RW);
        const all = () => true;
        for (let a = 0; a < graph.size; a++) {
          for (let b = a + 1; b < graph.size; b++) {
            const both =
              shortestPath(graph, a, b, WW | WR | RW, all) !== undefined &&
              shortestPath(graph, b, a, WW | WR | RW, all) !== undefined;
            expect(comp[a] === comp[b], `${a},${b}`).toBe(both);
          }
        }
      }),
      { numRuns: 100, seed: 32 },
    );
  });
});
