/**
 * The PALF side of the store simulator, pluggable: "memory" (sim-kv-cluster.ts: simulated groups with
 * append faults, fast) or "node" (node-kv-backend.ts: real palfd nodes in the whole-node simulator, reached
 * through the real client SDK and palfKvCluster, with the node simulator's faults). The store servers,
 * clients, CDC reader and checks on top are the same for both.
 */
import type { Prng } from "@palf/core";
import type { KvCluster, PartitionEntry } from "@palf/kv";
import type { SimNetwork, SimTransport } from "../node-sim/sim-network.ts";
import type { Proc, SimRuntime, SimScheduler } from "../node-sim/sim-scheduler.ts";

export type KvSimBackendKind = "memory" | "node";

export interface KvSimBackend {
  readonly kind: KvSimBackendKind;
  readonly sched: SimScheduler;
  readonly net: SimNetwork;
  /** The partitions' groups. */
  readonly groups: readonly number[];
  /** Gets the groups ready for appends (node: palfd processes started, leaders elected); false if not. */
  start(): Promise<boolean>;
  /** The PALF cluster as one process sees it. */
  view(proc: Proc, rt: SimRuntime, transport: SimTransport): KvCluster;
  /**
   * Every committed entry of a group, for the checks, at least up to LSN `atLeast` (the node backend reads
   * it through a client, whose replica may lag the one a store server read).
   */
  entries(group: number, atLeast: number): Promise<readonly PartitionEntry[]>;
  /** Cuts the process off from some of the groups (their leaders) for `ms`. */
  cutOff(proc: Proc, transport: SimTransport, groups: readonly number[], ms: number): void;
  /** One fault of the PALF side. */
  injectFault(rng: Prng, log: (line: string) => void): void;
  /** No more faults; everything back up. */
  heal(): void;
  /** What the PALF side's own checks found (node: log matching, leases, recovery, infrastructure). */
  finish(): Promise<string[]>;
  readonly stats: { readonly appends: number; readonly lostCommitRecords: number };
}
