import type { LaggingGroup } from "@palf/node";
import type { NodeStatus } from "./palfd-metrics.ts";

/** One sample of a node's counters; the status page turns consecutive samples into rates. */
export interface NodePoint {
  /** Wall-clock ms. */
  readonly t: number;
  readonly appends: number;
  readonly commits: number;
  readonly leaders: number;
  readonly leaderships: number;
  readonly walBytes: number;
}

/** What the status page shows of one node. */
export interface NodeView {
  readonly node: string;
  readonly self: boolean;
  /** Answered the last status request. */
  readonly up: boolean;
  readonly error?: string;
  /** Ms since its last answer (null: never answered). */
  readonly ageMs: number | null;
  readonly summary?: NodeSummary;
  readonly history: readonly NodePoint[];
}

export interface NodeSummary {
  readonly shards: number;
  readonly groups: number;
  readonly leaders: number;
  readonly halted: number;
  readonly inflightAppends: number;
  readonly walBytes: number;
  readonly walSegments: number;
  readonly diskFreeBytes: number | null;
  readonly diskTotalBytes: number | null;
  readonly gtsLeader: boolean;
  readonly watermarkLagMs: number | null;
  readonly lagging: readonly LaggingGroup[];
  readonly elections: number;
  readonly leaderships: number;
}

export interface ClusterSnapshot {
  readonly cluster: string;
  readonly self: string;
  readonly now: number;
  readonly intervalMs: number;
  readonly gtsLeader: string | null;
  readonly nodes: readonly NodeView[];
}

export interface ClusterViewOptions {
  readonly cluster: string;
  readonly self: string;
  /** This node's status (undefined while it starts). */
  readonly local: () => NodeStatus | undefined;
  /** Another node's status through the cluster (the status RPC); rejects if it does not answer. */
  readonly remote: (node: string) => Promise<NodeStatus>;
  /** Nodes to show besides this one and those named in its status (configured peers). */
  readonly peers: readonly string[];
  readonly intervalMs?: number;
  /** How much history to keep per node (default 5 minutes). */
  readonly keepMs?: number;
}

interface Entry {
  status?: NodeStatus;
  error?: string;
  seenAt?: number;
  history: NodePoint[];
}

/**
 * The cluster as the status page shows it: every `intervalMs` this node asks every node it knows of
 * (itself, its groups' members, configured peers) for its status, and keeps a few minutes of counters per
 * node. Bounded: nodes x (keepMs / intervalMs) small samples.
 */
export class ClusterView {
  private readonly entries = new Map<string, Entry>();
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> | undefined;
  readonly intervalMs: number;
  private readonly keepMs: number;

  constructor(private readonly o: ClusterViewOptions) {
    this.intervalMs = o.intervalMs ?? 2000;
    this.keepMs = o.keepMs ?? 5 * 60_000;
  }

  start(): void {
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Asks every known node once (concurrent calls share one round). */
  sample(): Promise<void> {
    this.sampling ??= this.round().finally(() => {
      this.sampling = undefined;
    });
    return this.sampling;
  }

  private nodes(): string[] {
    const names = new Set<string>([this.o.self, ...this.o.peers]);
    for (const e of this.entries.values()) for (const n of e.status?.nodes ?? []) names.add(n);
    return [...names].sort();
  }

  /** One round: every node's sample carries the round's start time, so the page's charts share one time axis. */
  private async round(): Promise<void> {
    const t = Date.now();
    const local = this.o.local();
    if (local) this.record(this.o.self, local, t);
    await Promise.all(
      this.nodes()
        .filter((n) => n !== this.o.self)
        .map(async (n) => {
          try {
            this.record(n, await this.o.remote(n), t);
          } catch (err) {
            this.entry(n).error = (err as Error).message;
          }
        }),
    );
  }

  private entry(node: string): Entry {
    let e = this.entries.get(node);
    if (!e) {
      e = { history: [] };
      this.entries.set(node, e);
    }
    return e;
  }

  private record(node: string, status: NodeStatus, t: number): void {
    const e = this.entry(node);
    e.status = status;
    e.seenAt = Date.now();
    delete e.error;
    const shards = status.shardStats ?? [];
    e.history.push({
      t,
      appends: sum(shards, (s) => s.appends),
      commits: sum(shards, (s) => s.committed),
      leaders: status.leaders,
      leaderships: sum(shards, (s) => s.leaderships),
      walBytes: sum(status.wal ?? [], (w) => w.bytesOnDisk),
    });
    while (e.history.length > 0 && e.history[0]!.t < t - this.keepMs) e.history.shift();
  }

  snapshot(): ClusterSnapshot {
    const now = Date.now();
    let gtsLeader: string | null = null;
    const nodes = this.nodes().map((node): NodeView => {
      const e = this.entries.get(node) ?? { history: [] };
      const s = e.status;
      if (s?.gts?.leader && e.error === undefined) gtsLeader = node;
      return {
        node,
        self: node === this.o.self,
        up: s !== undefined && e.error === undefined,
        ...(e.error === undefined ? {} : { error: e.error }),
        ageMs: e.seenAt === undefined ? null : now - e.seenAt,
        ...(s ? { summary: summarize(s) } : {}),
        history: e.history,
      };
    });
    return { cluster: this.o.cluster, self: this.o.self, now, intervalMs: this.intervalMs, gtsLeader, nodes };
  }
}

function summarize(s: NodeStatus): NodeSummary {
  const shards = s.shardStats ?? [];
  return {
    shards: s.shards,
    groups: s.groups,
    leaders: s.leaders,
    halted: s.halted ?? 0,
    inflightAppends: s.inflightAppends ?? 0,
    walBytes: sum(s.wal ?? [], (w) => w.bytesOnDisk),
    walSegments: sum(s.wal ?? [], (w) => w.segments),
    diskFreeBytes: s.disk?.freeBytes ?? null,
    diskTotalBytes: s.disk?.totalBytes ?? null,
    gtsLeader: s.gts?.leader === true,
    watermarkLagMs: s.watermarkLagMs ?? null,
    lagging: s.lagging ?? [],
    elections: sum(shards, (x) => x.elections),
    leaderships: sum(shards, (x) => x.leaderships),
  };
}

function sum<T>(items: readonly T[], f: (x: T) => number | undefined): number {
  let n = 0;
  for (const x of items) n += f(x) ?? 0;
  return n;
}
