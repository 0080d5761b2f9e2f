// Shared by the demo and the cluster benchmarks: a 3-node cluster either as real processes (nats-server +
// palfd via LocalCluster) or, when nats-server is missing, as PalfNodes in this process on the in-memory
// transport; plus status polling, node-addressed RPCs, deterministic payloads and small statistics.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type ConnectOptions, connect, type PalfClient } from "@palf/client";
import { PalfNode } from "@palf/node";
import { LocalCluster } from "@palf/palfd/local-cluster";
import {
  connectNatsTransport,
  decodeLeaderEvents,
  decodeResponse,
  encodeRpc,
  findNatsServer,
  isAdminOp,
  type LeaderEvent,
  MemoryBus,
  MemoryTransport,
  type NatsServerProcess,
  type RpcRequest,
  type RpcResponse,
  startNatsServer,
  type Transport,
} from "@palf/transport";
import pino from "pino";

export const CLUSTER = "palf";

export interface BenchClusterOptions {
  readonly nodes: readonly string[];
  /** Data dir; default a fresh temp dir, removed by stop(). */
  readonly dataDir?: string;
  readonly leaseMs?: number;
  readonly shards?: number;
  /** Force the in-process cluster even when nats-server is installed. */
  readonly memory?: boolean;
  /** Extra environment for the palfd processes (e.g. NODE_OPTIONS with a preload). */
  readonly env?: Readonly<Record<string, string>>;
}

/** True when nats-server can be found (findNatsServer throws otherwise). */
export function natsServerPath(): string | undefined {
  try {
    return findNatsServer();
  } catch {
    return undefined;
  }
}

/** The same cluster operations for both layouts. */
export interface BenchCluster {
  readonly kind: "processes" | "in-process";
  readonly nodes: readonly string[];
  readonly dataDir: string;
  /** The NATS server's URL (processes layout; "" in process). */
  readonly natsUrl: string;
  start(): Promise<void>;
  /** A client of the cluster (NATS or the in-memory bus). */
  client(o?: Partial<ConnectOptions>): Promise<PalfClient>;
  /** A raw transport for node-addressed RPCs and leader events. */
  probe(): Promise<Transport>;
  /** kill -9 (in process: stop without handover, nothing flushed beyond what the WAL already synced). */
  kill(node: string): Promise<void>;
  /** Starts a killed node again from its data dir. */
  restart(node: string): Promise<void>;
  /** Process ids of the palfd processes (processes layout only). */
  pids(): Map<string, number>;
  /** Stops everything (graceful when there is time, then hard) and removes an owned temp dir. */
  stop(): Promise<void>;
  /** Synchronous last resort for process exit: SIGKILL every child. */
  killAllNow(): void;
}

/** Picks the layout: real processes when nats-server is installed, else in-process. */
export function createBenchCluster(o: BenchClusterOptions): BenchCluster {
  const owned = o.dataDir === undefined;
  const dataDir = o.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "palf-bench-"));
  if (!owned) fs.mkdirSync(dataDir, { recursive: true });
  if (!o.memory && natsServerPath() !== undefined) return new ProcessCluster(o, dataDir, owned);
  return new InProcessCluster(o, dataDir, owned);
}

/**
 * The cluster of a real-cluster benchmark: nats-server must be installed (the numbers are about the real
 * transport), and the palfd children die with this process, also on Ctrl-C.
 */
export function createRealBenchCluster(o: BenchClusterOptions): BenchCluster {
  if (!natsServerPath()) throw new Error("nats-server is not installed (apt-get install -y nats-server)");
  const cluster = createBenchCluster(o);
  process.on("exit", () => cluster.killAllNow());
  process.once("SIGINT", () => {
    cluster.killAllNow();
    process.exit(130);
  });
  return cluster;
}

class ProcessCluster implements BenchCluster {
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

class InProcessCluster implements BenchCluster {
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

// ------------------------------------------------------------------ RPC helpers

/** One RPC to one node; a transport error comes back as an error response (never throws). */
export async function rpc(
  t: Transport,
  node: string,
  req: RpcRequest,
  timeoutMs = 3000,
): Promise<RpcResponse> {
  try {
    return decodeResponse(await t.request(node, encodeRpc(req), timeoutMs, { admin: isAdminOp(req.op) }));
  } catch (err) {
    return { ok: false, error: { code: "TIMEOUT", message: (err as Error).message } };
  }
}

/** What a node reports for one group (the replica's status()). */
export interface GroupView {
  readonly role: string;
  readonly leaseValid: boolean;
  readonly committedEnd: number;
  readonly leader?: string;
}

export async function groupStatus(
  t: Transport,
  node: string,
  group: number,
  timeoutMs = 3000,
): Promise<GroupView | undefined> {
  const res = await rpc(t, node, { op: "status", group }, timeoutMs);
  return res.ok && res.op === "status" ? ((res.status as GroupView | null) ?? undefined) : undefined;
}

/** Node-level status fields the benches use. */
export interface NodeView {
  readonly groups: number;
  readonly leaders: number;
}

/** Each node's group and leader counts via client.status(node); a node that does not answer is absent. */
export async function leaderCounts(
  client: PalfClient,
  nodes: readonly string[],
): Promise<Map<string, NodeView>> {
  const out = new Map<string, NodeView>();
  await Promise.all(
    nodes.map(async (n) => {
      try {
        const s = (await client.status(n)) as NodeView | undefined;
        if (s) out.set(n, { groups: s.groups, leaders: s.leaders });
      } catch {
        // Not answering (killed, restarting): counts as no leaders.
      }
    }),
  );
  return out;
}

export function totalLeaders(counts: Map<string, NodeView>): number {
  let n = 0;
  for (const v of counts.values()) n += v.leaders;
  return n;
}

/** Counters of a node (summed over its shards and WALs) from its status, for rates over the window. */
export async function nodeCounters(
  admin: PalfClient,
  nodes: readonly string[],
): Promise<Map<string, Record<string, number>>> {
  const out = new Map<string, Record<string, number>>();
  for (const n of nodes) {
    try {
      const s = (await admin.status(n)) as {
        leaders: number;
        shardStats: Array<Record<string, number>>;
        wal: Array<Record<string, number>>;
        transport: Record<string, number>;
        lease?: Record<string, number>;
        watermarks?: Record<string, number>;
      };
      const c: Record<string, number> = {};
      for (const sh of s.shardStats)
        for (const k of [
          "turns",
          "ticks",
          "groupsTurned",
          "flushes",
          "appends",
          "committed",
          "messagesIn",
          "messagesOut",
          "leaderships",
        ])
          c[k] = (c[k] ?? 0) + (sh[k] ?? 0);
      // Lease renewals (and the full sets among them) and watermark rounds with the groups they looked at.
      for (const k of ["renewals", "fullSets", "pairsSent"]) c[k] = s.lease?.[k] ?? 0;
      c.watermarkRounds = s.watermarks?.batches ?? 0;
      c.watermarkFullBatches = s.watermarks?.fullBatches ?? 0;
      c.watermarkVisited = s.watermarks?.visited ?? 0;
      for (const w of s.wal) {
        c.walFlushes = (c.walFlushes ?? 0) + (w.flushes ?? 0);
        c.walBytes = (c.walBytes ?? 0) + (w.bytesWritten ?? 0);
      }
      c.framesSent = s.transport.framesSent ?? 0;
      c.framesReceived = s.transport.framesReceived ?? 0;
      out.set(n, c);
    } catch {
      // a node that does not answer has no counters
    }
  }
  return out;
}

/**
 * What each node's loop did between two nodeCounters snapshots, in counts that do not depend on how fast
 * this machine was: turns and frames per second, and per turn the groups it touched and the messages it
 * took in and sent; per committed append the peer messages it sent.
 */
export function loopWork(
  a: Record<string, number>,
  b: Record<string, number>,
  seconds: number,
): Record<string, number> {
  const d = (k: string) => (b[k] ?? 0) - (a[k] ?? 0);
  const turns = Math.max(1, d("turns"));
  return {
    turnsPerS: round(d("turns") / seconds),
    groupsPerTurn: round(d("groupsTurned") / turns),
    messagesInPerTurn: round(d("messagesIn") / turns),
    messagesOutPerTurn: round(d("messagesOut") / turns),
    framesSentPerS: round(d("framesSent") / seconds),
    flushesPerS: round(d("walFlushes") / seconds),
    committedPerS: round(d("committed") / seconds),
  };
}

/** Per-second rates between two nodeCounters snapshots. */
export function rateOf(
  a: Record<string, number>,
  b: Record<string, number>,
  seconds: number,
): Record<string, number> {
  const rate: Record<string, number> = {};
  for (const k of Object.keys(b)) rate[k] = Math.round((((b[k] ?? 0) - (a[k] ?? 0)) / seconds) * 10) / 10;
  return rate;
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
export async function pool<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Creates groups 1..count on every node, `limit` creations at a time. */
export async function createGroups(
  client: PalfClient,
  count: number,
  nodes: readonly string[],
  limit = 64,
  onProgress?: (done: number) => void,
): Promise<void> {
  let done = 0;
  const ids = Array.from({ length: count }, (_, i) => i + 1);
  await pool(ids, limit, async (g) => {
    await client.createGroup(g, nodes);
    onProgress?.(++done);
  });
}

/** Polls until every group has a leader (sum of node leader counts); returns the time it took (ms). */
export async function waitAllLed(
  client: PalfClient,
  nodes: readonly string[],
  groups: number,
  timeoutMs: number,
  onPoll?: (led: number) => void,
): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const led = totalLeaders(await leaderCounts(client, nodes));
    onPoll?.(led);
    if (led >= groups) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`only ${led} of ${groups} groups have a leader after ${Math.round(timeoutMs)} ms`);
    await sleep(100);
  }
}

/** Leader events (`events.leader`) as they arrive, with their arrival time. */
export function watchLeaders(t: Transport, on: (e: LeaderEvent, at: number) => void): () => void {
  return t.subscribe("events.leader", (_topic, payload) => {
    const at = performance.now();
    for (const e of decodeLeaderEvents(payload)) on(e, at);
  });
}

// ------------------------------------------------------------------ payloads and numbers

/**
 * A payload that can be regenerated from (group, seq): 12 bytes of header, then bytes derived from both,
 * so a read-back can be compared byte for byte without keeping the payloads.
 */
export function makePayload(group: number, seq: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(Math.max(12, size));
  b.writeUInt32BE(group, 0);
  b.writeDoubleBE(seq, 4);
  let x = (Math.imul(group, 0x9e3779b1) ^ Math.imul(seq, 0x85ebca6b)) >>> 0;
  for (let i = 12; i < b.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

/**
 * Latency histogram (ms): log buckets 1% wide from 0.01 ms, so percentiles are within 1% and histograms of
 * several client processes can be merged (they travel as plain arrays).
 */
export class Histogram {
  static readonly MIN = 0.01;
  static readonly STEP = Math.log(1.01);
  readonly counts: number[];
  count = 0;
  constructor(counts?: readonly number[]) {
    this.counts = counts ? [...counts] : [];
    for (const c of this.counts) this.count += c ?? 0;
  }
  add(ms: number): void {
    const i = ms <= Histogram.MIN ? 0 : Math.ceil(Math.log(ms / Histogram.MIN) / Histogram.STEP);
    while (this.counts.length <= i) this.counts.push(0);
    this.counts[i]!++;
    this.count++;
  }
  merge(other: Histogram): void {
    for (let i = 0; i < other.counts.length; i++) {
      while (this.counts.length <= i) this.counts.push(0);
      this.counts[i]! += other.counts[i]!;
    }
    this.count += other.count;
  }
  /** The upper edge of the bucket holding the p-th percentile (ms). */
  percentile(p: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = Math.ceil((p / 100) * this.count);
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Histogram.MIN * Math.exp(i * Histogram.STEP);
    }
    return Number.NaN;
  }
}

export function round(v: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** utime + stime of a process in seconds (from /proc/<pid>/stat), or undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces: split after its closing parenthesis.
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(f[11]) + Number(f[12])) / clockTicks;
  } catch {
    return undefined;
  }
}

/** Resident set size of a process in MB (VmRSS from /proc/<pid>/status). */
export function rssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** USER_HZ: 100 on every Linux this runs on (getconf CLK_TCK). */
const clockTicks = 100;
