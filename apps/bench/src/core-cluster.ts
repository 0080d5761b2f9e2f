import {
  type EffectSink,
  GROUP_HEADER_BYTES,
  type GroupId,
  initialConfig,
  type Message,
  Replica,
} from "@palf/core";

/**
 * Many 3-replica groups in one process on a perfect network with instant durability: the core alone,
 * no I/O. Used by `pnpm bench core` and the `pnpm start` demo. Time is the caller's clock.
 */
export class CoreCluster {
  readonly nodes = ["n1", "n2", "n3"];
  readonly replicas = new Map<string, Map<GroupId, Replica>>();
  private queue: Message[] = [];
  private readonly durableDue = new Map<Replica, number>();
  private readonly wakeAt = new Map<Replica, number>();
  committedEntries = 0;
  failedEntries = 0;
  elections = 0;

  constructor(
    readonly groups: number,
    private readonly entryBytes: number,
    now: number,
    options: { leaseMs?: number; maxGroupEntryBytes?: number } = {},
  ) {
    for (const n of this.nodes) this.replicas.set(n, new Map());
    for (let g = 1; g <= groups; g++) {
      for (const n of this.nodes) this.create(n, g, now, options);
    }
  }

  private create(
    node: string,
    g: GroupId,
    now: number,
    options: { leaseMs?: number; maxGroupEntryBytes?: number },
  ) {
    const holder: { r?: Replica } = {};
    const sink: EffectSink = {
      persist: (_group, seq) => this.durableDue.set(holder.r!, seq),
      send: (m) => this.queue.push(m),
      result: (res) => {
        const n = (res.to - res.from - GROUP_HEADER_BYTES) / this.entryBytes;
        if (res.outcome === "committed") this.committedEntries += n;
        else this.failedEntries += n;
      },
      event: (e) => {
        if (e.type === "role" && e.role === "leader") this.elections++;
      },
      wake: (_group, at) => {
        if (holder.r) this.wakeAt.set(holder.r, at);
        else pendingWake = at;
      },
    };
    let pendingWake = 0;
    const r = new Replica(
      {
        group: g,
        self: node,
        initialConfig: initialConfig(this.nodes),
        seed: g * 7 + node.charCodeAt(1),
        priority: node === "n1" ? 1 : 0,
        lease: options.leaseMs ? { leaseMs: options.leaseMs, renewMs: options.leaseMs / 8 } : {},
        maxGroupEntryBytes: options.maxGroupEntryBytes ?? 256 * 1024,
      },
      sink,
      now,
    );
    holder.r = r;
    this.wakeAt.set(r, pendingWake);
    this.replicas.get(node)!.set(g, r);
  }

  leader(g: GroupId): Replica | undefined {
    for (const n of this.nodes) {
      const r = this.replicas.get(n)!.get(g)!;
      if (r.role === "leader") return r;
    }
    return undefined;
  }

  /** Runs due deadlines, durability and message delivery until the cluster is quiet. */
  pump(now: number): void {
    for (const [r, at] of this.wakeAt) {
      if (at <= now) {
        this.wakeAt.delete(r);
        r.tick(now);
        r.endTurn(now);
      }
    }
    for (let rounds = 0; rounds < 1000; rounds++) {
      if (this.durableDue.size > 0) {
        const due = [...this.durableDue];
        this.durableDue.clear();
        for (const [r, seq] of due) {
          r.durable(seq, now);
          r.endTurn(now);
        }
      }
      if (this.queue.length === 0 && this.durableDue.size === 0) break;
      const batch = this.queue;
      this.queue = [];
      const touched = new Set<Replica>();
      for (const m of batch) {
        const r = this.replicas.get(m.to)!.get(m.group);
        if (!r) continue;
        r.receive(m, now);
        touched.add(r);
      }
      for (const r of touched) r.endTurn(now);
    }
  }

  /** Every replica drops what it has committed (as after a checkpoint). */
  recycle(now: number): void {
    for (const m of this.replicas.values()) {
      for (const r of m.values()) r.advanceBase(r.committedEnd, now);
    }
  }
}
