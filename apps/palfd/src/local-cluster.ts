import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { type NatsServerProcess, startNatsServer } from "@palf/transport";

const mainTs = fileURLToPath(new URL("./main.ts", import.meta.url));

export interface LocalClusterOptions {
  readonly nodes: readonly string[];
  readonly dataDir: string;
  readonly cluster?: string;
  readonly leaseMs?: number;
  readonly shards?: number;
  readonly logDir?: string;
  /** Use this NATS server instead of starting one. */
  readonly natsUrl?: string;
}

/**
 * A real cluster on this machine: a nats-server on a free loopback port and one palfd process per node,
 * for the demo, the multi-process tests and the benchmarks. kill -9, restart and graceful stop by node.
 */
export class LocalCluster {
  readonly procs = new Map<string, ChildProcess>();
  nats: NatsServerProcess | undefined;
  natsUrl = "";

  constructor(readonly opts: LocalClusterOptions) {}

  async start(): Promise<void> {
    if (this.opts.natsUrl) this.natsUrl = this.opts.natsUrl;
    else {
      this.nats = await startNatsServer();
      this.natsUrl = this.nats.url;
    }
    fs.mkdirSync(this.opts.logDir ?? this.opts.dataDir, { recursive: true });
    await Promise.all(this.opts.nodes.map((n) => this.startNode(n)));
  }

  /** Starts (or restarts) one palfd and resolves when it logs that it is ready. */
  startNode(node: string): Promise<void> {
    const args = [
      "--import",
      "tsx",
      mainTs,
      "--node",
      node,
      "--nats",
      this.natsUrl,
      "--data",
      path.join(this.opts.dataDir, node),
      "--cluster",
      this.opts.cluster ?? "palf",
      "--lease-ms",
      String(this.opts.leaseMs ?? 2000),
      ...(this.opts.shards ? ["--shards", String(this.opts.shards)] : []),
    ];
    const log = fs.openSync(path.join(this.opts.logDir ?? this.opts.dataDir, `${node}.log`), "a");
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", log] });
    this.procs.set(node, child);
    return new Promise((resolve, reject) => {
      let buf = "";
      const onData = (chunk: Buffer) => {
        fs.writeSync(log, chunk);
        if (buf !== undefined) {
          buf += chunk.toString();
          if (buf.includes('"palfd ready"')) {
            buf = "";
            resolve();
          }
        }
      };
      child.stdout!.on("data", onData);
      child.once("exit", (code) =>
        reject(new Error(`palfd ${node} exited with ${code} before it was ready`)),
      );
    });
  }

  /** kill -9: no flush, no handover. */
  kill(node: string): Promise<void> {
    return this.signal(node, "SIGKILL");
  }

  /** Graceful stop (SIGTERM): leaderships move away first. */
  stopNode(node: string): Promise<void> {
    return this.signal(node, "SIGTERM");
  }

  private signal(node: string, sig: NodeJS.Signals): Promise<void> {
    const child = this.procs.get(node);
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.removeAllListeners("exit");
      child.once("exit", () => resolve());
      child.kill(sig);
    });
  }

  async stop(): Promise<void> {
    await Promise.all([...this.procs.keys()].map((n) => this.stopNode(n)));
    await this.nats?.stop();
  }
}
