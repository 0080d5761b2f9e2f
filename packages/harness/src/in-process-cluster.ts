// The in-process layout of a harness cluster: PalfNodes on one in-memory bus, used when nats-server is
// missing (or asked for with `memory`).
import fs from "node:fs";
import path from "node:path";
import { type ConnectOptions, connect, type PalfClient } from "@palf/client";
import { PalfNode } from "@palf/node";
import { MemoryBus, MemoryTransport, type Transport } from "@palf/transport";
import pino from "pino";
import { type BenchCluster, type BenchClusterOptions, CLUSTER } from "./bench-cluster.ts";

export class InProcessCluster implements BenchCluster {
  readonly kind = "in-process" as const;
  readonly natsUrl = "";
  readonly nodes: readonly string[];
  private readonly bus = new MemoryBus();
  private readonly running = new Map<string, { node: PalfNode; transport: MemoryTransport }>();
  private readonly extra: MemoryTransport[] = [];
  private readonly log = pino({ level: "silent" });
  private stopped = false;
  private seq = 0;

  constructor(
    private readonly o: BenchClusterOptions,
    readonly dataDir: string,
    private readonly owned: boolean,
  ) {
    this.nodes = o.nodes;
  }

  async start(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.restart(n)));
  }

  async restart(id: string): Promise<void> {
    const leaseMs = this.o.leaseMs ?? 2000;
    const transport = new MemoryTransport({ bus: this.bus, cluster: CLUSTER, nodeId: id });
    const node = await PalfNode.start({
      nodeId: id,
      dataDir: path.join(this.dataDir, id),
      transport,
      log: this.log,
      ...(this.o.shards ? { shards: this.o.shards } : {}),
      // The same lease settings palfd derives from --lease-ms.
      replica: {
        lease: {
          leaseMs,
          renewMs: leaseMs / 8,
          electionJitterMs: leaseMs / 8,
          voteWindowMs: Math.min(100, leaseMs / 20),
        },
      },
    });
    this.running.set(id, { node, transport });
  }

  client(o: Partial<ConnectOptions> = {}): Promise<PalfClient> {
    const transport = this.transport(`client-${++this.seq}`);
    return connect({ cluster: CLUSTER, nodes: this.nodes, transport, ...o });
  }

  async probe(): Promise<Transport> {
    return this.transport(`probe-${++this.seq}`);
  }

  private transport(id: string): MemoryTransport {
    const t = new MemoryTransport({ bus: this.bus, cluster: CLUSTER, nodeId: id });
    this.extra.push(t);
    return t;
  }

  async kill(id: string): Promise<void> {
    const r = this.running.get(id);
    if (!r) return;
    this.running.delete(id);
    await r.node.stop({ transferMs: 0 });
    await r.transport.close();
  }

  pids(): Map<string, number> {
    return new Map();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const id of [...this.running.keys()]) await this.kill(id);
    for (const t of this.extra.splice(0)) await t.close().catch(() => {});
    if (this.owned) fs.rmSync(this.dataDir, { recursive: true, force: true });
  }

  killAllNow(): void {}
}
