import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import {
  type NatsClusterProcess,
  type NatsServerOptions,
  type NatsServerProcess,
  startNatsCluster,
  startNatsServer,
} from "@palf/transport";

const mainTs = fileURLToPath(new URL("./main.ts", import.meta.url));

export interface LocalClusterOptions {
  readonly nodes: readonly string[];
  readonly dataDir: string;
  readonly cluster?: string;
  readonly leaseMs?: number;
  readonly shards?: number;
  /** WAL segment size (palfd --segment-bytes); tiny segments make them rotate often. */
  readonly segmentBytes?: number;
  readonly logDir?: string;
  /** Use this NATS server instead of starting one. */
  readonly natsUrl?: string;
  /** Each palfd serves metrics, probes and the status page on a free loopback port (see `httpUrls`). */
  readonly http?: boolean;
  /** nats-servers to start, joined by routes (default 1); every palfd and client gets every URL. */
  readonly natsServers?: number;
  /** How to start the nats-server (e.g. a config with accounts, and the passwords it reads from the env). */
  readonly nats?: NatsServerOptions;
  /** Extra palfd flags per node, e.g. its credentials (--user n1 --pass-file ...) or
   * --disk-reserve-mb for the node on a small filesystem. */
  readonly nodeArgs?: (node: string) => readonly string[];
  /** Extra environment for every palfd (e.g. the CPU-profile preload of the benchmarks). */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * A real cluster on this machine: a nats-server on a free loopback port and one palfd process per node,
 * for the demo, the multi-process tests and the benchmarks. kill -9, restart, graceful stop, pause
 * (SIGSTOP) and resume by node; a restart of the nats-server in place.
 */
export class LocalCluster {
  readonly procs = new Map<string, ChildProcess>();
  /** Each node's HTTP base URL (with `http: true`), as its last start reported it. */
  readonly httpUrls = new Map<string, string>();
  nats: NatsServerProcess | undefined;
  /** Every server's URL, comma-separated (what palfd's --nats takes). */
  natsUrl = "";
  /** Every server's URL (what clients take as `servers`). */
  natsUrls: string[] = [];
  /** The NATS cluster, when `natsServers` > 1. */
  natsCluster: NatsClusterProcess | undefined;
  /** Nodes stopped with SIGSTOP and not resumed yet. */
  private readonly paused = new Set<string>();
  /** A test process that dies without stop() must not leave palfd processes behind (paused ones included). */
  private readonly killOnExit = () => {
    for (const p of this.procs.values()) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  };

  constructor(readonly opts: LocalClusterOptions) {}

  async start(): Promise<void> {
    if (this.opts.natsUrl) this.natsUrl = this.opts.natsUrl;
    else if ((this.opts.natsServers ?? 1) > 1) {
      this.natsCluster = await startNatsCluster({ size: this.opts.natsServers! });
      this.natsUrl = this.natsCluster.urls.join(",");
    } else {
      this.nats = await startNatsServer(this.opts.nats);
      this.natsUrl = this.nats.url;
    }
    this.natsUrls = this.natsUrl.split(",");
    fs.mkdirSync(this.opts.logDir ?? this.opts.dataDir, { recursive: true });
    process.once("exit", this.killOnExit);
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
      ...(this.opts.segmentBytes ? ["--segment-bytes", String(this.opts.segmentBytes)] : []),
      ...(this.opts.http ? ["--http", "127.0.0.1:0"] : []),
      ...(this.opts.nodeArgs?.(node) ?? []),
    ];
    const log = fs.openSync(path.join(this.opts.logDir ?? this.opts.dataDir, `${node}.log`), "a");
    const child = spawn(process.execPath, args, {
      stdio: ["ignore", "pipe", log],
      ...(this.opts.env ? { env: { ...process.env, ...this.opts.env } } : {}),
    });
    this.procs.set(node, child);
    this.paused.delete(node);
    return new Promise((resolve, reject) => {
      let buf = "";
      const onData = (chunk: Buffer) => {
        fs.writeSync(log, chunk);
        if (buf !== undefined) {
          buf += chunk.toString();
          // Whole lines only: the ready line carries the HTTP address as JSON.
          const ready = buf
            .split("\n")
            .slice(0, -1)
            .find((line) => line.includes('"palfd ready"'));
          if (ready !== undefined) {
            buf = "";
            const http = (JSON.parse(ready) as { http?: string }).http;
            if (http) this.httpUrls.set(node, http);
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

  /**
   * SIGSTOP: the process freezes as it is (timers, sockets, leases) without knowing it; its TCP connection
   * to NATS stays open. resume() lets it run on from where it stopped.
   */
  pause(node: string): void {
    this.live(node).kill("SIGSTOP");
    this.paused.add(node);
  }

  /** SIGCONT for a node stopped by pause(). */
  resume(node: string): void {
    this.live(node).kill("SIGCONT");
    this.paused.delete(node);
  }

  /**
   * Stops the nats-server (every palfd and client loses its connection) and starts it again on the same
   * port after `downMs`; palfd processes are left alone and must reconnect on their own.
   */
  async restartNats(o: { downMs?: number } = {}): Promise<void> {
    const old = this.nats;
    if (!old) throw new Error("restartNats: this cluster did not start the nats-server (opts.natsUrl)");
    await old.stop();
    this.nats = undefined;
    if (o.downMs) await new Promise((r) => setTimeout(r, o.downMs));
    // The port was ours a moment ago; something else may hold it briefly (e.g. a probe for a free port).
    for (let attempt = 1; ; attempt++) {
      try {
        this.nats = await startNatsServer({ ...this.opts.nats, port: old.port });
        return;
      } catch (err) {
        if (attempt >= 10) throw err;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
  }

  private live(node: string): ChildProcess {
    const child = this.procs.get(node);
    if (!child || child.exitCode !== null || child.signalCode !== null)
      throw new Error(`palfd ${node} is not running`);
    return child;
  }

  private signal(node: string, sig: NodeJS.Signals): Promise<void> {
    const child = this.procs.get(node);
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      child.removeAllListeners("exit");
      child.once("exit", () => resolve());
      child.kill(sig);
      // A stopped process handles SIGTERM only once it runs again (SIGKILL needs no help).
      if (this.paused.delete(node)) child.kill("SIGCONT");
    });
  }

  async stop(): Promise<void> {
    await Promise.all([...this.procs.keys()].map((n) => this.stopNode(n)));
    await this.nats?.stop();
    await this.natsCluster?.stop();
    process.off("exit", this.killOnExit);
  }
}
