import { connect, type PalfClient } from "@palf/client";
import {
  DEFAULT_CATALOG_GROUP,
  delay,
  type KvRuntime,
  type KvTimer,
  PartitionHost,
  type PartitionHostOptions,
  type PartitionMap,
  palfKvCluster,
  RemoteKvService,
  readPartitionMap,
  realKvRuntime,
  serveKv,
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
 * The store's server: replays every partition of the store from PALF (starting from its own checkpoints),
 * answers reads, scans and prepare outcomes over NATS, resolves stale locks, and checkpoints each partition.
 * It keeps no state that the logs do not have: a killed server restarts from its checkpoints and the logs.
 */
export class KvServer {
  private transport: Transport | undefined;
  private client: PalfClient | undefined;
  host: PartitionHost | undefined;
  map: PartitionMap | undefined;
  private unserve: (() => void) | undefined;
  private timer: KvTimer | undefined;
  private stopped = false;
  private readonly rt: KvRuntime;
  private readonly log: (line: Record<string, unknown>) => void;
  readonly stats = { checkpoints: 0, recycled: 0, heldByCursor: 0, checkpointErrors: 0 };
  private cursors: CursorHolds | undefined;
  /** Per partition, the read position of the last checkpoint written (what a restart replays from). */
  private readonly checkpointed = new Map<number, number>();

  constructor(readonly o: KvServerOptions) {
    this.rt = o.runtime ?? realKvRuntime;
    this.log = o.log ?? ((l) => process.stdout.write(`${JSON.stringify(l)}\n`));
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
    const restored = loadCheckpoints(this.o.dataDir, map, (msg) => this.log({ level: "warn", msg }));
    this.host = new PartitionHost(palfKvCluster(this.client), this.rt, map, this.o.host ?? {}, restored);
    for (let p = 0; p < map.groups.length; p++) this.host.replica(p).refresh();
    this.unserve = serveKv(this.transport, this.host, () => this.status(), map.version);
    await this.transport.flush();
    this.log({
      msg: "palfkv ready",
      id: this.o.id,
      mapVersion: map.version,
      partitions: map.groups.length,
      fromCheckpoint: [...restored.keys()],
    });
    this.scheduleCheckpoint();
  }

  /** What this server replays and how far. */
  status(): Record<string, unknown> {
    const host = this.host;
    return {
      id: this.o.id,
      mapVersion: this.map?.version,
      partitions:
        host === undefined
          ? []
          : host.partitions.map((p) => {
              const r = host.replica(p);
              return {
                partition: p,
                group: r.group,
                readFrom: r.readFrom,
                watermark: r.w,
                keys: r.state.keyCount,
                locks: r.state.lockCount,
                applied: r.state.stats.applied,
                malformed: r.state.stats.malformed,
                // Pages read from PALF and fence records appended.
                pagesRead: r.stats.pages,
                fences: r.stats.fences,
              };
            }),
      checkpointed: Object.fromEntries(this.checkpointed),
      resolver: host?.stats,
      server: this.stats,
    };
  }

  /** Checkpoints every partition now (and recycles the logs below, if asked). */
  async checkpoint(): Promise<void> {
    const host = this.host;
    const map = this.map;
    if (host === undefined || map === undefined) return;
    for (const p of host.partitions) {
      const r = host.replica(p);
      // State and position are taken in one turn: they describe the same point of the log.
      const bytes = r.state.checkpoint();
      const readFrom = r.readFrom;
      saveCheckpoint(this.o.dataDir, map, p, readFrom, bytes);
      this.checkpointed.set(p, readFrom);
      this.stats.checkpoints++;
    }
    if (this.o.recycle) await this.recycle();
  }

  /**
   * Advances each partition's base to the lowest checkpoint position over this server and its peers, held
   * back by every registered cursor (palfd's advanceBase does not look at cursors; retention does).
   */
  private async recycle(): Promise<void> {
    const host = this.host;
    if (host === undefined || this.transport === undefined || this.client === undefined) return;
    this.cursors ??= new CursorHolds(this.client);
    const cursors = await this.cursors.refresh();
    if (cursors === undefined) return; // An unread cursor may need any part of any log.
    const low = new Map(this.checkpointed);
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

  private scheduleCheckpoint(): void {
    if (this.stopped) return;
    this.timer = this.rt.setTimeout(() => {
      void this.checkpoint()
        .catch((e) => {
          this.stats.checkpointErrors++;
          this.log({ level: "warn", msg: "checkpoint failed", error: (e as Error).message });
        })
        .finally(() => this.scheduleCheckpoint());
    }, this.o.checkpointEveryMs ?? 5000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.rt.clearTimeout(this.timer);
    this.unserve?.();
    await this.host?.close();
    await this.client?.close();
    await this.transport?.close();
  }
}
