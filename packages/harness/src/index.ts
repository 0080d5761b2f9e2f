// @palf/harness: a palf-ts cluster on this machine for the benchmarks, the demo and the multi-process
// tests. Two layouts behind one interface (real nats-server + palfd processes, or nodes in this process on
// the in-memory bus), node-addressed RPCs and status probes, group creation and leader waits, an append
// load that records what was acknowledged, and regenerable payloads. Only tests and tools import it.
export { type LoadOptions, type LoadResult, runLoad } from "./append-loops.ts";
export { pool } from "./async-pool.ts";
export { type BenchCluster, type BenchClusterOptions, CLUSTER } from "./bench-cluster.ts";
export { createBenchCluster, createRealBenchCluster, natsServerPath } from "./cluster-layout.ts";
export { Histogram } from "./latency-histogram.ts";
export {
  createGroups,
  leaderCounts,
  type NodeView,
  totalLeaders,
  waitAllLed,
  watchLeaders,
} from "./leadership.ts";
export { nodeCounters, rateOf } from "./node-counters.ts";
export { type GroupView, groupStatus, leaderOf, rpc } from "./node-rpc.ts";
export { makePayload } from "./payloads.ts";
export { sleep, until } from "./polling.ts";
