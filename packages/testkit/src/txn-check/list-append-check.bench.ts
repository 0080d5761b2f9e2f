// Times the list-append check on a generated strong-SI history (and on the same history with stale
// reads injected, so the cycle search has work). Prints one JSON line.
// Run: pnpm tsx packages/testkit/src/txn-check/list-append-check.bench.ts [txns] [processes]
import { performance } from "node:perf_hooks";
import { Prng } from "@palf/core";
import type { ConsistencyModel } from "./consistency-model.ts";
import { runStore } from "./list-append.test-support.ts";
import { checkListAppend } from "./list-append-check.ts";
import type { ListAppendTxn } from "./list-append-history.ts";

const txns = Number(process.argv[2] ?? 10_000);
const processes = Number(process.argv[3] ?? 16);
const history = runStore({ seed: 42, txns, processes, isolation: "si", activeKeys: 8 });

/** Every 50th ok read loses its last element: stale reads that close cycles through real time. */
function withStaleReads(h: ListAppendTxn[]): ListAppendTxn[] {
  const rng = new Prng(7);
  return h.map((t, i) => {
    if (t.status !== "ok" || i % 50 !== 0) return t;
    return {
      ...t,
      ops: t.ops.map((op) =>
        op.f === "r" && op.value !== null && op.value.length > 0 && rng.chance(0.5)
          ? { ...op, value: op.value.slice(0, -1) }
          : op,
      ),
    };
  });
}

const time = (h: ListAppendTxn[], consistency: ConsistencyModel) => {
  const start = performance.now();
  const cpu = process.cpuUsage();
  const result = checkListAppend(h, { consistency });
  const used = process.cpuUsage(cpu);
  return {
    ms: Math.round(performance.now() - start),
    // CPU time says more than wall time on a shared, loaded machine.
    cpuMs: Math.round((used.user + used.system) / 1000),
    ok: result.ok,
    counts: result.counts,
    edges: result.stats.edges,
  };
};

// The first run includes compiling the checker; the second is what a long test run sees.
const cold = time(history, "strong-si");
const clean = time(history, "strong-si");
const serializable = time(history, "strict-serializable");
const broken = time(withStaleReads(history), "strong-si");
console.log(
  JSON.stringify({
    txns: history.length,
    processes,
    ops: history.reduce((n, t) => n + t.ops.length, 0),
    firstRunMs: cold.ms,
    cleanStrongSiMs: clean.ms,
    cleanStrongSiCpuMs: clean.cpuMs,
    cleanOk: clean.ok,
    strictSerializableMs: serializable.ms,
    strictSerializableCpuMs: serializable.cpuMs,
    strictSerializableCounts: serializable.counts,
    staleReadsMs: broken.ms,
    staleReadsCpuMs: broken.cpuMs,
    staleReadsCounts: broken.counts,
    edges: clean.edges,
  }),
);
