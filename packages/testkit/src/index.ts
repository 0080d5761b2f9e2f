/**
 * @palf/testkit: deterministic simulation of PALF groups. Simulated nodes with drifting clocks, a network
 * that drops, duplicates, delays, reorders, corrupts and partitions, disks that lose unsynced writes on a
 * crash; safety checkers on every step. Everything derives from one seed, so a failure replays exactly.
 * Only tests and tools import this package.
 */

export { MutableImage } from "@palf/core/testing";
export { type ChaosOptions, runChaos, type SeedReport } from "./chaos.ts";
export { type AppendRecord, Checker } from "./checker.ts";
export * from "./history/index.ts";
export * from "./node-sim/index.ts";
export { type NetworkFaults, type SimOptions, Simulation } from "./simulation.ts";
export * from "./txn-check/index.ts";
