/**
 * The whole-node simulator: the real PalfNode (shards, lease hub, WAL, RPC server) on simulated disks, a
 * simulated network and virtual clocks, driven by one seeded event queue, with simulated clients whose
 * history is checked at the end of each seed. `pnpm sim:node` runs it from the command line.
 */
export { type NodeChaosOptions, type NodeSeedReport, runNodeChaos } from "./node-chaos.ts";
export { NodeSim, type NodeSimOptions, SIM_LEASE } from "./node-sim.ts";
export { type DiskFaults, SimDisk, SimFs } from "./sim-disk.ts";
export { type NetFaults, SimNetwork, SimTransport } from "./sim-network.ts";
export {
  type SimClient,
  type SimClientOptions,
  type SimProcess,
  type SimProcessOptions,
  simClient,
  simProcess,
} from "./sim-process.ts";
export { Proc, SimClock, SimRuntime, SimScheduler } from "./sim-scheduler.ts";
