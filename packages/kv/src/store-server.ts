import type { Transport } from "@palf/transport";
import type { KvCluster } from "./kv-cluster.ts";
import { serveKv } from "./kv-rpc.ts";
import type { KvRuntime, KvTimer } from "./kv-runtime.ts";
import { PartitionHost, type PartitionHostOptions } from "./partition-host.ts";
import type { PartitionMap } from "./partition-map.ts";
import type { PartitionState } from "./partition-state.ts";

/** Where a store server keeps its checkpoints (files for palfkv serve, a simulated disk in the simulator). */
export interface CheckpointStore {
  /**
   * Stores partition `p`'s state at read position `readFrom` durably before returning (or before the
   * returned promise resolves: files are written off the event loop, whose fsync would stall every read).
   */
  save(p: number, readFrom: number, state: Uint8Array): void | Promise<void>;
}

export interface StoreServerOptions {
  readonly id: string;
  readonly cluster: KvCluster;
  /** Where the server answers `palf.<cluster>.rpc.<id>` requests. */
  readonly transport: Transport;
  readonly map: PartitionMap;
  readonly runtime: KvRuntime;
  readonly checkpoints: CheckpointStore;
  /** What the last checkpoints held (a restart replays from there). */
  readonly restored?: ReadonlyMap<number, { readonly state: PartitionState; readonly readFrom: number }>;
  /** Checkpoint every partition this often (ms). Default 5000. */
  readonly checkpointEveryMs?: number;
  readonly host?: PartitionHostOptions;
  /** Runs after each round of checkpoints (palfkv serve recycles the logs there). */
  readonly afterCheckpoint?: (checkpointed: ReadonlyMap<number, number>) => Promise<void>;
  readonly log?: (line: Record<string, unknown>) => void;
}

/**
 * The store server's logic, free of NATS and files: replays every partition (from its checkpoints, then the
 * logs), answers reads, scans and prepare outcomes, resolves stale locks and checkpoints each partition.
 * It keeps no state the logs do not have. `palfkv serve` (apps/kv) wires it to NATS and files; the
 * simulator wires it to its network and disks.
 */
export class StoreServer {
  readonly host: PartitionHost;
  private readonly unserve: () => void;
  private timer: KvTimer | undefined;
  private stopped = false;
  /** recycled and heldByCursor are counted by the afterCheckpoint hook (palfkv serve's recycling). */
  readonly stats = { checkpoints: 0, checkpointErrors: 0, recycled: 0, heldByCursor: 0 };
  /** Per partition, the read position of the last checkpoint written (what a restart replays from). */
  readonly checkpointed = new Map<number, number>();

  constructor(readonly o: StoreServerOptions) {
    this.host = new PartitionHost(o.cluster, o.runtime, o.map, o.host ?? {}, o.restored ?? new Map());
    for (let p = 0; p < o.map.groups.length; p++) this.host.replica(p).refresh();
    this.unserve = serveKv(o.transport, this.host, () => this.status(), o.map.version);
    this.scheduleCheckpoint();
  }

  /** What this server replays and how far. */
  status(): Record<string, unknown> {
    const host = this.host;
    return {
      id: this.o.id,
      mapVersion: this.o.map.version,
      partitions: host.partitions.map((p) => {
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
      resolver: host.stats,
      server: this.stats,
    };
  }

  /** Checkpoints every partition that applied something since its last checkpoint, then runs afterCheckpoint. */
  async checkpoint(): Promise<void> {
    for (const p of this.host.partitions) {
      const r = this.host.replica(p);
      // Only applying entries changes a state, and it moves readFrom: an unmoved partition's last file holds.
      if (this.checkpointed.get(p) === r.readFrom) continue;
      // State and position are taken in one turn: they describe the same point of the log.
      const bytes = r.state.checkpoint();
      const readFrom = r.readFrom;
      const saving = this.o.checkpoints.save(p, readFrom, bytes);
      if (saving) await saving;
      this.checkpointed.set(p, readFrom);
      this.stats.checkpoints++;
    }
    await this.o.afterCheckpoint?.(this.checkpointed);
  }

  private scheduleCheckpoint(): void {
    if (this.stopped) return;
    this.timer = this.o.runtime.setTimeout(() => {
      void this.checkpoint()
        .catch((e) => {
          this.stats.checkpointErrors++;
          this.o.log?.({ level: "warn", msg: "checkpoint failed", error: (e as Error).message });
        })
        .finally(() => this.scheduleCheckpoint());
    }, this.o.checkpointEveryMs ?? 5000);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.o.runtime.clearTimeout(this.timer);
    this.unserve();
    await this.host.close();
  }
}
