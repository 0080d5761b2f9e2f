// Picks the layout of a harness cluster: real processes (nats-server + palfd via LocalCluster) when
// nats-server is installed, else PalfNodes in this process on the in-memory transport.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { findNatsServer } from "@palf/transport";
import type { BenchCluster, BenchClusterOptions } from "./bench-cluster.ts";
import { InProcessCluster } from "./in-process-cluster.ts";
import { ProcessCluster } from "./process-cluster.ts";

/** True when nats-server can be found (findNatsServer throws otherwise). */
export function natsServerPath(): string | undefined {
  try {
    return findNatsServer();
  } catch {
    return undefined;
  }
}

/** Picks the layout: real processes when nats-server is installed, else in-process. */
export function createBenchCluster(o: BenchClusterOptions): BenchCluster {
  const owned = o.dataDir === undefined;
  const dataDir = o.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "palf-bench-"));
  if (!owned) fs.mkdirSync(dataDir, { recursive: true });
  if (!o.memory && natsServerPath() !== undefined) return new ProcessCluster(o, dataDir, owned);
  return new InProcessCluster(o, dataDir, owned);
}

/**
 * The cluster of a real-cluster benchmark: nats-server must be installed (the numbers are about the real
 * transport), and the palfd children die with this process, also on Ctrl-C.
 */
export function createRealBenchCluster(o: BenchClusterOptions): BenchCluster {
  if (!natsServerPath()) throw new Error("nats-server is not installed (apt-get install -y nats-server)");
  const cluster = createBenchCluster(o);
  process.on("exit", () => cluster.killAllNow());
  process.once("SIGINT", () => {
    cluster.killAllNow();
    process.exit(130);
  });
  return cluster;
}
