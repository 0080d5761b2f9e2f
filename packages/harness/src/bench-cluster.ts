// What a harness cluster is, whichever its layout: the options it starts from and the operations it answers.
import type { ConnectOptions, PalfClient } from "@palf/client";
import type { Transport } from "@palf/transport";

/** The cluster name every harness cluster uses (subjects palf.<CLUSTER>.*). */
export const CLUSTER = "palf";

export interface BenchClusterOptions {
  readonly nodes: readonly string[];
  /** Data dir; default a fresh temp dir, removed by stop(). */
  readonly dataDir?: string;
  readonly leaseMs?: number;
  readonly shards?: number;
  /** Force the in-process cluster even when nats-server is installed. */
  readonly memory?: boolean;
  /** Extra environment for the palfd processes (e.g. NODE_OPTIONS with a preload). */
  readonly env?: Readonly<Record<string, string>>;
}

/** The same cluster operations for both layouts. */
export interface BenchCluster {
  readonly kind: "processes" | "in-process";
  readonly nodes: readonly string[];
  readonly dataDir: string;
  /** The NATS server's URL (processes layout; "" in process). */
  readonly natsUrl: string;
  start(): Promise<void>;
  /** A client of the cluster (NATS or the in-memory bus). */
  client(o?: Partial<ConnectOptions>): Promise<PalfClient>;
  /** A raw transport for node-addressed RPCs and leader events. */
  probe(): Promise<Transport>;
  /** kill -9 (in process: stop without handover, nothing flushed beyond what the WAL already synced). */
  kill(node: string): Promise<void>;
  /** Starts a killed node again from its data dir. */
  restart(node: string): Promise<void>;
  /** Process ids of the palfd processes (processes layout only). */
  pids(): Map<string, number>;
  /** Stops everything (graceful when there is time, then hard) and removes an owned temp dir. */
  stop(): Promise<void>;
  /** Synchronous last resort for process exit: SIGKILL every child. */
  killAllNow(): void;
}
