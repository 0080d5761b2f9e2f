// The processes layout of a harness cluster: its own nats-server and one palfd process per node.

import fs from "node:fs";
import { type ConnectOptions, connect, type PalfClient } from "@palf/client";
import { LocalCluster } from "@palf/palfd/local-cluster";
import {
  connectNatsTransport,
  type NatsServerProcess,
  startNatsServer,
  type Transport,
} from "@palf/transport";
import { type BenchCluster, type BenchClusterOptions, CLUSTER } from "./bench-cluster.ts";

export class ProcessCluster implements BenchCluster {
  readonly kind = "processes" as const;
  readonly nodes: readonly string[];
  private local: LocalCluster | undefined;
  private nats: NatsServerProcess | undefined;
  private readonly probes: Transport[] = [];
  private stopped = false;

  constructor(
    private readonly o: BenchClusterOptions,
    readonly dataDir: string,
    private readonly owned: boolean,
  ) {
    this.nodes = o.nodes;
  }

  get natsUrl(): string {
    return this.nats?.url ?? "";
  }

  private get cluster(): LocalCluster {
    if (!this.local) throw new Error("the cluster is not started");
    return this.local;
  }

  async start(): Promise<void> {
    // Our own nats-server, so that LocalCluster spawns every palfd synchronously inside start()
    // (withEnv restores the environment when that call returns).
    this.nats = await startNatsServer();
    this.local = new LocalCluster({
      nodes: this.o.nodes,
      dataDir: this.dataDir,
      natsUrl: this.nats.url,
      leaseMs: this.o.leaseMs ?? 2000,
      ...(this.o.shards ? { shards: this.o.shards } : {}),
    });
    const local = this.local;
    await withEnv(this.o.env, () => local.start());
  }

  client(o: Partial<ConnectOptions> = {}): Promise<PalfClient> {
    return connect({ cluster: CLUSTER, nodes: this.nodes, servers: this.natsUrl, ...o });
  }

  async probe(): Promise<Transport> {
    const t = await connectNatsTransport({
      cluster: CLUSTER,
      nodeId: `probe-${process.pid}-${this.probes.length}`,
      servers: this.natsUrl,
    });
    this.probes.push(t);
    return t;
  }

  kill(node: string): Promise<void> {
    return this.cluster.kill(node);
  }

  restart(node: string): Promise<void> {
    return withEnv(this.o.env, () => this.cluster.startNode(node));
  }

  pids(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [n, p] of this.local?.procs ?? [])
      if (p.pid !== undefined && p.exitCode === null && p.signalCode === null) out.set(n, p.pid);
    return out;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.probes.splice(0)) await t.close().catch(() => {});
    // Graceful stop hands leaderships over (bounded by palfd); a node that hangs is killed after 8 s.
    const hard = setTimeout(() => this.killAllNow(), 8000);
    await this.local?.stop().catch(() => {});
    clearTimeout(hard);
    await this.nats?.stop();
    if (this.owned) fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  killAllNow(): void {
    for (const p of this.local?.procs.values() ?? [])
      if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    // The nats-server child is killed by its own process-exit hook (startNatsServer).
  }
}

/**
 * Runs `fn` with extra environment variables: LocalCluster spawns palfd with this process's environment,
 * read synchronously when the child is spawned, so they are restored as soon as `fn` has returned.
 */
function withEnv<T>(env: Readonly<Record<string, string>> | undefined, fn: () => Promise<T>): Promise<T> {
  if (!env) return fn();
  const saved = Object.keys(env).map((k) => [k, process.env[k]] as const);
  Object.assign(process.env, env);
  try {
    return fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}
