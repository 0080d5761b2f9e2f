// The subcommands of `palf bench` (`pnpm bench <name>`): one line each. A bench module exports
// `main(argv)` and, for `--help` and early flag checks, `flags` (see flags.ts); it is imported only when run.
import type { FlagSpec } from "./flags.ts";

export interface BenchModule {
  /** Runs the bench with its own argv (flags after the subcommand name); prints one JSON line last. */
  main(argv: string[]): Promise<void>;
  /** The flags `--help` lists; without it the dispatcher passes any flag through unchecked. */
  readonly flags?: FlagSpec;
}

export interface BenchEntry {
  readonly name: string;
  readonly summary: string;
  readonly load: () => Promise<BenchModule>;
}

export const benches: readonly BenchEntry[] = [
  { name: "core", summary: "the PALF core alone, no I/O", load: () => import("./core-bench.ts") },
  { name: "wal", summary: "the shard WAL on this disk", load: () => import("./wal-bench.ts") },
  {
    name: "append",
    summary: "appends through the client SDK: a local cluster, or an existing one with --nats",
    load: () => import("./append-bench.ts"),
  },
  { name: "idle", summary: "CPU and RSS of idle palfd processes", load: () => import("./idle-bench.ts") },
  {
    name: "failover",
    summary: "kill -9 under load: leaderless time, lost acks",
    load: () => import("./failover-bench.ts"),
  },
  { name: "gts", summary: "GTS timestamps/s, latency, monotonicity", load: () => import("./gts-bench.ts") },
  {
    name: "cdc",
    summary: "CDC under appends: delivered/s, lag, order",
    load: () => import("./cdc-bench.ts"),
  },
  {
    name: "replace",
    summary: "kill -9 a node under load and replace it: replace time, lost acks",
    load: () => import("./replace-bench.ts"),
  },
  {
    name: "kv",
    summary: "the transactional store: bank, single-key or list-append transactions",
    load: () => import("./kv-bench.ts"),
  },
];
