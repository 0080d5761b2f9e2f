import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type PalfClient } from "@palf/client";
import {
  countedKvCluster,
  createStore,
  type Kv,
  type KvCallCounts,
  openKv,
  type PartitionMap,
  palfKvCluster,
  type ReadFence,
  RemoteKvService,
} from "@palf/kv";
import { LocalCluster } from "@palf/palfd/local-cluster";
import { connectNatsTransport, type Transport } from "@palf/transport";

const mainTs = fileURLToPath(new URL("./main.ts", import.meta.url));

export interface LocalStoreOptions {
  readonly nodes?: readonly string[];
  /** Store server ids (each replays every partition). Default kv1, kv2. */
  readonly servers?: readonly string[];
  readonly dataDir: string;
  readonly partitions: number;
  readonly leaseMs?: number;
  /** Default leader (the leader-answered fence). */
  readonly readFence?: ReadFence;
  readonly lockTimeoutMs?: number;
  readonly checkpointMs?: number;
  /** Store servers recycle the logs below their checkpoints (`palfkv serve --recycle --peers ...`). */
  readonly recycle?: boolean;
  /** nats-servers, clustered with routes when more than one (default 1). */
  readonly natsServers?: number;
  /** Extra environment for every palfd and store server (e.g. the CPU-profile preload of `bench kv`). */
  readonly env?: Readonly<Record<string, string>>;
}

/**
 * A whole store on this machine for tests, benchmarks and the demo: a nats-server, 3 palfd processes (a
 * LocalCluster), the GTS group, the store's catalog and partitions, and store server processes
 * (`palfkv serve`). kill -9 and restart of palfd nodes and of store servers.
 */
export class LocalStore {
  readonly cluster: LocalCluster;
  readonly nodes: readonly string[];
  readonly servers: readonly string[];
  readonly procs = new Map<string, ChildProcess>();
  map: PartitionMap | undefined;
  private readonly killOnExit = () => {
    for (const p of this.procs.values()) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  };

  constructor(readonly o: LocalStoreOptions) {
    this.nodes = o.nodes ?? ["n1", "n2", "n3"];
    this.servers = o.servers ?? ["kv1", "kv2"];
    this.cluster = new LocalCluster({
      nodes: this.nodes,
      dataDir: o.dataDir,
      leaseMs: o.leaseMs ?? 1000,
      ...(o.natsServers === undefined ? {} : { natsServers: o.natsServers }),
      ...(o.env === undefined ? {} : { env: o.env }),
    });
  }

  get natsUrl(): string {
    return this.cluster.natsUrl;
  }

  async start(): Promise<void> {
    await this.cluster.start();
    process.once("exit", this.killOnExit);
    const client = await this.client();
    try {
      await client.createGroup(0, this.nodes);
      this.map = await createStore(client, { nodes: this.nodes, partitions: this.o.partitions });
    } finally {
      await client.close();
    }
    await Promise.all(this.servers.map((s) => this.startServer(s)));
  }

  /** A palf client of the cluster. */
  client(): Promise<PalfClient> {
    return connect({ cluster: "palf", nodes: this.nodes, servers: this.cluster.natsUrls });
  }

  /** A store handle reading through the store servers (remote: true) or replaying in this process. */
  async openKv(o: { readonly remote?: boolean; readonly maxAttempts?: number } = {}): Promise<{
    kv: Kv;
    client: PalfClient;
    /** The calls this handle made to PALF and GTS, and (remote) its requests to store servers. */
    counts: KvCallCounts;
    service: RemoteKvService | undefined;
    close: () => Promise<void>;
  }> {
    const client = await this.client();
    let transport: Transport | undefined;
    let service: RemoteKvService | undefined;
    if (o.remote !== false) {
      transport = await connectNatsTransport({
        cluster: "palf",
        nodeId: `kvc-${process.pid}-${Math.floor(performance.now())}`,
        servers: this.cluster.natsUrls,
      });
      service = new RemoteKvService(transport, { servers: this.servers, mapVersion: this.map!.version });
    }
    const { cluster, counts } = countedKvCluster(palfKvCluster(client));
    const kv = await openKv({
      cluster,
      map: this.map!,
      ...(service === undefined ? {} : { service }),
      host: { readFence: this.o.readFence ?? "leader", lockTimeoutMs: this.o.lockTimeoutMs ?? 2000 },
      ...(o.maxAttempts === undefined ? {} : { maxAttempts: o.maxAttempts }),
    });
    return {
      kv,
      client,
      counts,
      service,
      close: async () => {
        await kv.close();
        await client.close();
        await transport?.close();
      },
    };
  }

  /** Starts (or restarts) one store server and resolves once it is serving. */
  startServer(id: string): Promise<void> {
    const dir = path.join(this.o.dataDir, id);
    fs.mkdirSync(dir, { recursive: true });
    const args = [
      "--import",
      "tsx",
      mainTs,
      "--nats",
      this.natsUrl,
      "--nodes",
      this.nodes.join(","),
      "--read-fence",
      this.o.readFence ?? "leader",
      "serve",
      "--id",
      id,
      "--data",
      dir,
      "--lock-timeout-ms",
      String(this.o.lockTimeoutMs ?? 2000),
      "--checkpoint-ms",
      String(this.o.checkpointMs ?? 2000),
      ...(this.o.recycle
        ? [
            "--recycle",
            ...(this.servers.length > 1 ? ["--peers", this.servers.filter((s) => s !== id).join(",")] : []),
          ]
        : []),
    ];
    const log = fs.openSync(path.join(this.o.dataDir, `${id}.log`), "a");
    const child = spawn(process.execPath, args, {
      stdio: ["ignore", "pipe", log],
      ...(this.o.env ? { env: { ...process.env, ...this.o.env } } : {}),
    });
    this.procs.set(id, child);
    return new Promise((resolve, reject) => {
      let buf = "";
      child.stdout!.on("data", (chunk: Buffer) => {
        fs.writeSync(log, chunk);
        if (buf !== undefined) {
          buf += chunk.toString();
          if (buf.includes('"palfkv ready"')) {
            buf = "";
            resolve();
          }
        }
      });
      child.once("exit", (code) =>
        reject(new Error(`store server ${id} exited with ${code} before it was ready`)),
      );
    });
  }

  /** A store server's status (its replayed partitions, locks, resolver counters). */
  async serverStatus(id: string): Promise<unknown> {
    const t = await connectNatsTransport({
      cluster: "palf",
      nodeId: `kvs-${process.pid}-${id}`,
      servers: this.cluster.natsUrls,
    });
    try {
      return await new RemoteKvService(t, { servers: [id], requestTimeoutMs: 5000 }).status(id);
    } finally {
      await t.close();
    }
  }

  /** kill -9 of a store server. */
  async killServer(id: string): Promise<void> {
    const p = this.procs.get(id);
    if (p === undefined || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise((r) => p.once("exit", r));
    p.kill("SIGKILL");
    await gone;
  }

  async stop(): Promise<void> {
    await Promise.all(
      [...this.procs.values()].map(async (p) => {
        if (p.exitCode !== null || p.signalCode !== null) return;
        const gone = new Promise((r) => p.once("exit", r));
        p.kill("SIGTERM");
        const t = setTimeout(() => p.kill("SIGKILL"), 5000);
        await gone;
        clearTimeout(t);
      }),
    );
    await this.cluster.stop();
    process.off("exit", this.killOnExit);
  }
}
