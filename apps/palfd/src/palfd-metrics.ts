import type { NodeObserver, PalfNode } from "@palf/node";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

/** What PalfNode.status() reports (the exporter reads its counters at scrape time). */
export type NodeStatus = ReturnType<PalfNode["status"]>;

/** Connection counters palfd keeps from the transport's status events. */
export interface NatsState {
  connected: boolean;
  disconnects: number;
  reconnects: number;
}

type Labels = Record<string, string | number>;

/**
 * palfd's Prometheus metrics: every name starts with `palf_`, labels are the node (a default label) and the
 * shard, never a group, so the series count stays fixed however many groups a node hosts. Counters the node
 * keeps anyway are read from its status at scrape time; latencies come from the node's observer hooks.
 */
export class PalfdMetrics {
  readonly registry = new Registry();
  private readonly commitLatency: Histogram<"shard">;
  private readonly fsyncLatency: Histogram<"shard">;
  private readonly loopTurn: Histogram<"shard">;
  private readonly appendBytes: Counter<"shard">;
  private readonly committed: Counter<"shard">;
  private readonly appendErrors: Counter<"shard" | "code">;
  private status: NodeStatus | undefined;
  private seeded = false;

  constructor(
    nodeId: string,
    private readonly readStatus: () => NodeStatus | undefined,
    nats: NatsState,
  ) {
    const registers = [this.registry];
    this.registry.setDefaultLabels({ node: nodeId });
    collectDefaultMetrics({ register: this.registry });
    const seconds = [
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
    ];
    const histogram = (name: string, help: string) =>
      new Histogram({ name, help, labelNames: ["shard"], buckets: seconds, registers });
    this.commitLatency = histogram(
      "palf_commit_latency_seconds",
      "Append requests: from arrival at the leader to the answer (committed on a majority, fsync included)",
    );
    this.fsyncLatency = histogram("palf_fsync_latency_seconds", "One fdatasync of a shard's WAL");
    this.loopTurn = histogram(
      "palf_loop_turn_seconds",
      "One shard loop turn (inbound, timers, replica turns, WAL submit, outbound)",
    );
    this.appendBytes = new Counter({
      name: "palf_append_bytes_total",
      help: "Payload bytes of appends answered committed",
      labelNames: ["shard"],
      registers,
    });
    this.committed = new Counter({
      name: "palf_appends_committed_total",
      help: "Appends answered committed ({lsn, csn})",
      labelNames: ["shard"],
      registers,
    });
    this.appendErrors = new Counter({
      name: "palf_append_errors_total",
      help: "Appends answered with an error, by code (BACKPRESSURE, NOT_LEADER, TIMEOUT...)",
      labelNames: ["shard", "code"],
      registers,
    });

    for (const [type, name, help, read] of nodeMetrics) {
      const collect = () => (this.status ? [[{}, read(this.status)] as const] : []);
      (type === "counter" ? counter : gauge)(registers, name, help, [], collect);
    }
    for (const [type, name, help, read] of shardMetrics) {
      const collect = () => (this.status?.shardStats ?? []).map((s, shard) => [{ shard }, read(s)] as const);
      (type === "counter" ? counter : gauge)(registers, name, help, ["shard"], collect);
    }
    for (const [type, name, help, read] of walMetrics) {
      const collect = () => (this.status?.wal ?? []).map((w, shard) => [{ shard }, read(w)] as const);
      (type === "counter" ? counter : gauge)(registers, name, help, ["shard"], collect);
    }
    // Kept by palfd itself, so they exist while the node starts too.
    gauge(
      registers,
      "palf_up",
      "1 once the WAL is recovered and the node serves (0 while it starts)",
      [],
      () => [[{}, this.status ? 1 : 0]],
    );
    counter(registers, "palf_nats_reconnects_total", "Reconnections to NATS", [], () => [
      [{}, nats.reconnects],
    ]);
    counter(registers, "palf_nats_disconnects_total", "Connections to NATS lost", [], () => [
      [{}, nats.disconnects],
    ]);
    gauge(registers, "palf_nats_connected", "1 while connected to NATS", [], () => [
      [{}, nats.connected ? 1 : 0],
    ]);
  }

  /** The node's hooks: histograms and per-request counters. */
  readonly observer: NodeObserver = {
    turn: (shard, ms) => this.loopTurn.observe({ shard }, ms / 1000),
    fsync: (shard, ms) => this.fsyncLatency.observe({ shard }, ms / 1000),
    appended: (shard, items, outcomes, ms) => {
      this.commitLatency.observe({ shard }, ms / 1000);
      let committed = 0;
      let bytes = 0;
      for (let i = 0; i < outcomes.length; i++) {
        const o = outcomes[i]!;
        if ("lsn" in o) {
          committed++;
          bytes += items[i]?.payload.length ?? 0;
        } else this.appendErrors.inc({ shard, code: o.error.code });
      }
      if (committed > 0) {
        this.committed.inc({ shard }, committed);
        this.appendBytes.inc({ shard }, bytes);
      }
    },
  };

  /** The text exposition format; one status() per scrape feeds every collector. */
  metrics(): Promise<string> {
    this.status = this.readStatus();
    if (this.status && !this.seeded) {
      // Every shard's series exist from the first scrape (at 0), so rate() sees the first increase too.
      this.seeded = true;
      for (let shard = 0; shard < this.status.shards; shard++) {
        for (const h of [this.commitLatency, this.fsyncLatency, this.loopTurn]) h.zero({ shard });
        this.committed.inc({ shard }, 0);
        this.appendBytes.inc({ shard }, 0);
      }
    }
    return this.registry.metrics();
  }
}

type Sample = readonly [Labels, number];
type ShardStat = NodeStatus["shardStats"][number];
type WalStat = NodeStatus["wal"][number];
type Spec<T> = readonly [type: "counter" | "gauge", name: string, help: string, read: (x: T) => number];

/** Per node, read from its status at scrape time. */
const nodeMetrics: readonly Spec<NodeStatus>[] = [
  ["gauge", "palf_groups_halted", "Replicas out of service (halted) here", (s) => s.halted],
  ["counter", "palf_lease_renewals_total", "Coalesced lease renewal rounds sent", (s) => s.lease.renewals],
  ["counter", "palf_lease_refused_total", "Lease grants peers refused", (s) => s.lease.refused],
  [
    "gauge",
    "palf_disk_free_bytes",
    "Free bytes on the data dir's file system",
    (s) => s.disk?.freeBytes ?? NaN,
  ],
  [
    "gauge",
    "palf_disk_alarm",
    "1 while the NOSPACE alarm is raised (free space below the reserve or a WAL write waiting for room)",
    (s) => (s.disk && "alarm" in s.disk && s.disk.alarm ? 1 : 0),
  ],
  ["counter", "palf_nats_frames_sent_total", "Frames published to NATS", (s) => s.transport.framesSent],
  ["counter", "palf_nats_bytes_sent_total", "Bytes published to NATS", (s) => s.transport.bytesSent],
  ["counter", "palf_nats_frames_received_total", "Peer frames received", (s) => s.transport.framesReceived],
  [
    "counter",
    "palf_nats_bytes_received_total",
    "Peer frame bytes received",
    (s) => s.transport.bytesReceived,
  ],
  [
    "counter",
    "palf_nats_messages_received_total",
    "Protocol messages in received frames",
    (s) => s.transport.messagesReceived,
  ],
  [
    "counter",
    "palf_nats_dropped_frames_total",
    "Bad frames dropped whole (version, truncation, structure)",
    (s) => s.transport.framesRejected,
  ],
  [
    "counter",
    "palf_nats_dropped_messages_total",
    "Bad messages dropped from good frames",
    (s) => s.transport.messagesRejected,
  ],
  ["counter", "palf_nats_send_errors_total", "Publishes that failed locally", (s) => s.transport.sendErrors],
  [
    "counter",
    "palf_gts_requests_total",
    "GTS requests this node served or refused",
    (s) => s.gts.server.requests,
  ],
  ["counter", "palf_gts_timestamps_total", "Timestamps handed out as GTS leader", (s) => s.gts.server.served],
  ["gauge", "palf_gts_leader", "1 while this node leads the GTS group", (s) => (s.gts.leader ? 1 : 0)],
  ["counter", "palf_watermark_batches_total", "Watermark batches published", (s) => s.watermarks.batches],
  [
    "gauge",
    "palf_watermark_lag_seconds",
    "How far this node's newest published watermark trails its clock (CDC readers wait at most this)",
    (s) => (s.watermarkLagMs === null ? NaN : s.watermarkLagMs / 1000),
  ],
];

/** Per shard, read from its status at scrape time. */
const shardMetrics: readonly Spec<ShardStat>[] = [
  ["counter", "palf_appends_total", "Appends a leader here took (assigned an LSN)", (s) => s.appends],
  ["counter", "palf_commits_total", "Appends committed in groups led here", (s) => s.committed],
  ["gauge", "palf_groups", "Groups hosted", (s) => s.groups],
  ["gauge", "palf_groups_led", "Groups led here", (s) => s.leaders],
  ["counter", "palf_elections_total", "Replicas here that stood for election", (s) => s.elections],
  ["counter", "palf_leader_changes_total", "Leaderships won by replicas here", (s) => s.leaderships],
  ["counter", "palf_loop_turns_total", "Shard loop turns", (s) => s.turns],
  ["gauge", "palf_inflight_appends", "Appends waiting for their result", (s) => s.inflightAppends],
  [
    "counter",
    "palf_backpressure_total",
    "Appends and pushes refused for lack of WAL room (disk budget)",
    (s) => s.noWalRoom,
  ],
  ["counter", "palf_peer_messages_sent_total", "Protocol messages sent to peers", (s) => s.messagesOut],
  ["counter", "palf_peer_messages_received_total", "Protocol messages received", (s) => s.messagesIn],
];

/** Per shard's WAL, read from its stats at scrape time. */
const walMetrics: readonly Spec<WalStat>[] = [
  ["gauge", "palf_wal_bytes", "Bytes of WAL segment files on disk", (w) => w.bytesOnDisk],
  ["gauge", "palf_wal_segments", "WAL segment files", (w) => w.segments],
  ["counter", "palf_wal_written_bytes_total", "Bytes written to the WAL", (w) => w.bytesWritten],
  ["counter", "palf_wal_flushes_total", "WAL flushes (one write and one fdatasync each)", (w) => w.flushes],
];

/** A counter whose value the node keeps: each scrape adds what it grew by since the last one. */
function counter(
  registers: Registry[],
  name: string,
  help: string,
  labelNames: string[],
  read: () => Iterable<Sample>,
): void {
  const last = new Map<string, number>();
  new Counter({
    name,
    help,
    labelNames,
    registers,
    collect() {
      for (const [labels, value] of read()) {
        const key = JSON.stringify(labels);
        const delta = value - (last.get(key) ?? 0);
        if (delta > 0) this.inc(labels, delta);
        else if (!last.has(key)) this.inc(labels, 0);
        last.set(key, value);
      }
    },
  });
}

function gauge(
  registers: Registry[],
  name: string,
  help: string,
  labelNames: string[],
  read: () => Iterable<Sample>,
): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers,
    collect() {
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}
