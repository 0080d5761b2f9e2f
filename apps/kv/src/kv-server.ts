import { connect, type PalfClient } from "@palf/client";
import {
  DEFAULT_CATALOG_GROUP,
  delay,
  type KvRuntime,
  type PartitionHost,
  type PartitionHostOptions,
  type PartitionMap,
  palfKvCluster,
  RemoteKvService,
  readPartitionMap,
  realKvRuntime,
  StoreServer,
} from "@palf/kv";
import { connectNatsTransport, type Transport } from "@palf/transport";
import { loadCheckpoints, saveCheckpoint } from "./checkpoint-files.ts";
import { CursorHolds } from "./cursor-holds.ts";

export interface KvServerOptions {
  /** This server's id on NATS (`palf.<cluster>.rpc.<id>`). */
  readonly id: string;
  readonly cluster: string;
  readonly nats: string | readonly string[];
  /** palfd node ids (the seed list). */
  readonly nodes: readonly string[];
  /** Where checkpoints are kept. */
  readonly dataDir: string;
  readonly catalogGroup?: number;
  /** Checkpoint every partition this often (ms). Default 5000. */
  readonly checkpointEveryMs?: number;
  /**
   * After a checkpoint, let PALF drop each partition's log below the lowest checkpoint of this server and of
   * every peer (asked over NATS; a peer that does not answer stops recycling for that round), and never below
   * a registered reader cursor (a transaction-CDC consumer saves one with cdcCursorPosition). Default false.
   */
  readonly recycle?: boolean;
  /** The other store servers, whose checkpoints recycling must not pass. */
  readonly peers?: readonly string[];
  readonly host?: PartitionHostOptions;
  /** Test-only: recycle past registered cursors (breaks "never past a cursor"; its guard test must fail). */
  readonly unsafeIgnoreCursors?: boolean;
  readonly runtime?: KvRuntime;
  readonly log?: (line: Record<string, unknown>) => void;
}

/**
 * `palfkv serve`: the store server (@palf/kv's StoreServer: replay, serve, resolve, checkpoint) wired to
 * NATS, checkpoint files and, with `recycle`, PALF's advanceBase.
 */
export class KvServer {
  private transport: Transport | undefined;
  private client: PalfClient | undefined;
  private server: StoreServer | undefined;
  map: PartitionMap | undefined;
  private readonly rt: KvRuntime;
  private readonly log: (line: Record<string, unknown>) => void;
  /** Before start: zeros (the store server counts checkpoints; recycle counts recycled and heldByCursor). */
  private readonly idleStats = { checkpoints: 0, checkpointErrors: 0, recycled: 0, heldByCursor: 0 };
  private cursors: CursorHolds | undefined;

  constructor(readonly o: KvServerOptions) {
    this.rt = o.runtime ?? realKvRuntime;
    this.log = o.log ?? ((l) => process.stdout.write(`${JSON.stringify(l)}\n`));
  }

  get stats() {
    return this.server?.stats ?? this.idleStats;
  }

  get host(): PartitionHost | undefined {
    return this.server?.host;
  }

  async start(): Promise<void> {
    this.transport = await connectNatsTransport({
      cluster: this.o.cluster,
      nodeId: this.o.id,
      servers: this.o.nats,
    });
    this.client = await connect({ cluster: this.o.cluster, nodes: this.o.nodes, transport: this.transport });
    const catalog = this.o.catalogGroup ?? DEFAULT_CATALOG_GROUP;
    for (let attempt = 0; ; attempt++) {
      try {
        this.map = await readPartitionMap(this.client, catalog);
        break;
      } catch (e) {
        if (attempt >= 60) throw e;
        await delay(this.rt, 500);
      }
    }
    const map = this.map;
    const dir = this.o.dataDir;
    const restored = loadCheckpoints(dir, map, (msg) => this.log({ level: "warn", msg }));
    this.server = new StoreServer({
      id: this.o.id,
      cluster: palfKvCluster(this.client),
      transport: this.transport,
      map,
      runtime: this.rt,
      checkpoints: { save: (p, readFrom, bytes) => saveCheckpoint(dir, map, p, readFrom, bytes) },
      restored,
      ...(this.o.checkpointEveryMs !== undefined ? { checkpointEveryMs: this.o.checkpointEveryMs } : {}),
      ...(this.o.host !== undefined ? { host: this.o.host } : {}),
      ...(this.o.recycle ? { afterCheckpoint: (low: ReadonlyMap<number, number>) => this.recycle(low) } : {}),
      log: this.log,
    });
    await this.transport.flush();
    this.log({
      msg: "palfkv ready",
      id: this.o.id,
      mapVersion: map.version,
      partitions: map.groups.length,
      fromCheckpoint: [...restored.keys()],
    });
  }

  /** What this server replays and how far. */
  status(): Record<string, unknown> {
    return this.server?.status() ?? { id: this.o.id };
  }

  /** Checkpoints every partition now (and recycles the logs below, if asked). */
  async checkpoint(): Promise<void> {
    await this.server?.checkpoint();
  }

  /**
   * Advances each partition's base to the lowest checkpoint position over this server and its peers, held
   * back by every registered cursor (palfd's advanceBase does not look at cursors; retention does).
   */
  private async recycle(checkpointed: ReadonlyMap<number, number>): Promise<void> {
    const host = this.server?.host;
    if (host === undefined || this.transport === undefined || this.client === undefined) return;
    this.cursors ??= new CursorHolds(this.client);
    const cursors = await this.cursors.refresh();
    if (cursors === undefined) return; // An unread cursor may need any part of any log.
    const low = new Map(checkpointed);
    const remote = new RemoteKvService(this.transport, {
      servers: this.o.peers ?? [this.o.id],
      requestTimeoutMs: 5000,
    });
    for (const peer of this.o.peers ?? []) {
      let st: { checkpointed?: Record<string, number> };
      try {
        st = (await remote.status(peer)) as typeof st;
      } catch {
        return; // A peer we cannot ask may need any part of the log.
      }
      for (const p of low.keys()) {
        const theirs = st.checkpointed?.[String(p)];
        if (theirs === undefined) return;
        low.set(p, Math.min(low.get(p)!, theirs));
      }
    }
    for (const [p, checkpointed] of low) {
      const group = host.replica(p).group;
      const hold = this.o.unsafeIgnoreCursors ? Number.POSITIVE_INFINITY : cursors.holdFor(group);
      if (hold < checkpointed) this.stats.heldByCursor++;
      const lsn = Math.min(checkpointed, hold);
      if (lsn <= 0) continue;
      await this.client.advanceBase(group, lsn);
      this.stats.recycled++;
    }
  }

  async stop(): Promise<void> {
    await this.server?.stop();
    await this.client?.close();
    await this.transport?.close();
  }
}
