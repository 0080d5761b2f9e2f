// Shared by the fault tests: a real cluster (nats-server + palfd processes) with groups created and led,
// a stoppable append load through the client SDK that records every acknowledged append, seeds, waits
// with explanations, and the one "nothing acknowledged lost" check all fault tests end with.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type ConnectOptions, connect, type PalfClient } from "@palf/client";
import { Prng } from "@palf/core";
import {
  CLUSTER,
  createGroups,
  type GroupView,
  groupStatus,
  type LoadResult,
  makePayload,
  pool,
  rpc,
  runLoad,
  sleep,
  until,
} from "@palf/harness";
import { LocalCluster, type LocalClusterOptions } from "@palf/palfd/local-cluster";
import { connectNatsTransport, type NatsTransport, type Transport } from "@palf/transport";
import { afterAll, beforeAll, onTestFailed } from "vitest";

export { sleep };

// ------------------------------------------------------------------ seeds

/**
 * The seed of one fault test: PALF_FAULT_SEED when set (to replay a failure), else a random one. Printed
 * at once, and `replay` is the line to print when the test fails.
 */
export function faultSeed(file: string): { seed: number; rng: Prng; replay: string } {
  const fromEnv = process.env.PALF_FAULT_SEED;
  const seed = fromEnv ? Number(fromEnv) >>> 0 : Math.floor(Math.random() * 2 ** 31);
  // A bare file name is one of test/faults; other suites pass their path from the repository root.
  const where = file.includes("/") ? file : `test/faults/${file}`;
  const replay = `[faults] ${where} seed ${seed}; replay: PALF_FAULT_SEED=${seed} pnpm exec vitest run ${where}`;
  console.log(replay);
  return { seed, rng: new Prng(seed), replay };
}

// ------------------------------------------------------------------ waiting

/** Polls `cond` until it holds; past `ms` it throws, with `explain()` saying what was still missing. */
/**
 * One fault test file's cluster, seed and clean-up: the cluster starts before the file's tests and is closed
 * after them, its data and logs kept (and the seed's replay line printed) when a test failed.
 */
export function faultSuite(
  file: string,
  opts: FaultClusterOptions,
): { readonly rng: Prng; readonly replay: string; cluster(): FaultCluster; watchFailure(): void } {
  const { rng, replay } = faultSeed(file);
  let fc: FaultCluster | undefined;
  let failed = false;
  beforeAll(async () => {
    fc = await FaultCluster.start(opts);
  }, 60_000);
  afterAll(async () => {
    await fc?.close({ keep: failed });
  });
  return {
    rng,
    replay,
    cluster: () => {
      if (!fc) throw new Error("the fault cluster did not start");
      return fc;
    },
    watchFailure: () =>
      onTestFailed(() => {
        failed = true;
        console.error(replay);
      }),
  };
}

export async function waitFor(
  what: string,
  cond: () => Promise<boolean> | boolean,
  ms: number,
  explain?: () => Promise<string> | string,
): Promise<void> {
  try {
    await until(what, cond, ms);
  } catch (err) {
    throw new Error(`${(err as Error).message} (${ms} ms)${explain ? `: ${await explain()}` : ""}`);
  }
}

// ------------------------------------------------------------------ the cluster

export interface FaultClusterOptions extends Omit<LocalClusterOptions, "dataDir" | "natsUrl" | "cluster"> {
  /** Groups 1..groups, each with every node as a member. */
  readonly groups: number;
  /** NATS credentials of the probe and of client() (an admin's, when the server has accounts). */
  readonly connection?: { readonly user?: string; readonly pass?: string };
  /** Runs on the fresh cluster dir before any palfd starts (e.g. mounts a small filesystem for one node). */
  readonly prepare?: (dir: string) => void;
}

/**
 * A LocalCluster in a fresh temp dir with groups 1..G created on every node and led, a raw probe
 * transport for node-addressed RPCs and an admin client. close() keeps the dir (and the palfd logs) when
 * asked to, for a failed test.
 */
export class FaultCluster {
  readonly groups: number[];
  private readonly clients: PalfClient[] = [];

  private constructor(
    readonly cluster: LocalCluster,
    readonly dir: string,
    readonly probe: NatsTransport,
    groups: number,
    private readonly connection: FaultClusterOptions["connection"] = {},
  ) {
    this.groups = Array.from({ length: groups }, (_, i) => i + 1);
  }

  get nodes(): readonly string[] {
    return this.cluster.opts.nodes;
  }

  static async start(o: FaultClusterOptions): Promise<FaultCluster> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-faults-"));
    const { groups, connection, prepare, ...rest } = o;
    prepare?.(dir);
    const cluster = new LocalCluster({ ...rest, dataDir: dir, cluster: CLUSTER });
    try {
      await cluster.start();
      const probe = await connectNatsTransport({
        cluster: CLUSTER,
        nodeId: `probe-${process.pid}`,
        servers: cluster.natsUrls,
        connection: { reconnectTimeWait: 250, ...connection },
        log: () => {},
      });
      const fc = new FaultCluster(cluster, dir, probe, groups, connection);
      const admin = await fc.client();
      await createGroups(admin, groups, o.nodes, 16);
      await fc.waitAllLed(o.nodes, 45_000);
      return fc;
    } catch (err) {
      await cluster.stop().catch(() => {});
      throw new Error(`the cluster did not start (logs in ${dir}): ${(err as Error).message}`);
    }
  }

  /** A client of the cluster; closed by close(). Reconnects to NATS quickly (the NATS restart test). */
  async client(o: Partial<ConnectOptions> = {}): Promise<PalfClient> {
    const c = await connect({
      cluster: CLUSTER,
      nodes: this.nodes,
      servers: this.cluster.natsUrls,
      connection: { reconnectTimeWait: 250, ...this.connection },
      log: () => {},
      ...o,
    });
    this.clients.push(c);
    return c;
  }

  /** Each group's status on each node (undefined: the node did not answer). */
  async views(
    nodes: readonly string[] = this.nodes,
  ): Promise<Map<number, Map<string, GroupView | undefined>>> {
    const out = new Map<number, Map<string, GroupView | undefined>>();
    for (const g of this.groups) out.set(g, new Map());
    const pairs = this.groups.flatMap((g) => nodes.map((n) => [g, n] as const));
    await pool(pairs, 64, async ([g, n]) => {
      out.get(g)!.set(n, await groupStatus(this.probe, n, g, 2000));
    });
    return out;
  }

  /** The groups no node of `nodes` leads with a valid lease. */
  async unled(nodes: readonly string[] = this.nodes): Promise<number[]> {
    const views = await this.views(nodes);
    return this.groups.filter(
      (g) => ![...views.get(g)!.values()].some((v) => v?.role === "leader" && v.leaseValid),
    );
  }

  /** Waits until every group has a leader among `nodes`; on timeout says which groups had none and why. */
  async waitAllLed(nodes: readonly string[] = this.nodes, ms = 45_000): Promise<void> {
    await waitFor(
      `every group led by one of ${nodes.join(",")}`,
      async () => (await this.unled(nodes)).length === 0,
      ms,
      () => this.describeUnled(nodes),
    );
  }

  /** Waits until no group has a second replica in the leader role (a stale leader that never stepped down). */
  async waitOneLeaderEach(ms = 45_000): Promise<void> {
    const notOne = async () => {
      const views = await this.views();
      return this.groups.filter(
        (g) => [...views.get(g)!.values()].filter((v) => v?.role === "leader").length !== 1,
      );
    };
    await waitFor(
      "exactly one replica in the leader role per group",
      async () => (await notOne()).length === 0,
      ms,
      async () => {
        const views = await this.views();
        return (await notOne())
          .slice(0, 5)
          .map((g) => `group ${g}: ${describeViews(views.get(g)!)}`)
          .join("; ");
      },
    );
  }

  async describeUnled(nodes: readonly string[] = this.nodes): Promise<string> {
    const views = await this.views(nodes);
    const unled = this.groups.filter(
      (g) => ![...views.get(g)!.values()].some((v) => v?.role === "leader" && v.leaseValid),
    );
    return `${unled.length} groups without a leader, e.g. ${unled
      .slice(0, 5)
      .map((g) => `group ${g}: ${describeViews(views.get(g)!)}`)
      .join("; ")}`;
  }

  /** The node leading the most groups and the groups it leads. */
  async topLeader(): Promise<{ node: string; groups: number[] }> {
    const views = await this.views();
    const led = new Map<string, number[]>(this.nodes.map((n) => [n, []]));
    for (const [g, byNode] of views)
      for (const [n, v] of byNode) if (v?.role === "leader" && v.leaseValid) led.get(n)!.push(g);
    const [node, groups] = [...led].sort((a, b) => b[1].length - a[1].length)[0]!;
    return { node, groups };
  }

  /** The last lines of a node's palfd log (stdout and stderr), for failure messages. */
  logTail(node: string, lines = 30): string {
    try {
      return fs
        .readFileSync(path.join(this.dir, `${node}.log`), "utf8")
        .trimEnd()
        .split("\n")
        .slice(-lines)
        .join("\n");
    } catch {
      return "(no log)";
    }
  }

  /** Stops the clients and the cluster; removes the dir unless `keep` (then says where it is). */
  async close(o: { keep?: boolean } = {}): Promise<void> {
    for (const c of this.clients.splice(0)) await c.close().catch(() => {});
    await this.probe.close().catch(() => {});
    // Graceful stop hands leaderships over; a palfd that hangs is killed after 15 s.
    const hard = setTimeout(() => {
      for (const p of this.cluster.procs.values())
        if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
    }, 15_000);
    await this.cluster.stop().catch(() => {});
    clearTimeout(hard);
    if (o.keep) console.error(`[faults] data dirs and palfd logs kept in ${this.dir}`);
    else fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function describeViews(byNode: Map<string, GroupView | undefined>): string {
  return [...byNode]
    .map(([n, v]) => (v ? `${n}=${v.role}${v.leaseValid ? "+lease" : ""}@${v.committedEnd}` : `${n}=?`))
    .join(",");
}

// ------------------------------------------------------------------ acknowledged appends and load

export interface Ack {
  readonly lsn: number;
  readonly payload: Uint8Array;
  /** Who acknowledged it: "client" (the SDK) or a raw RPC to one node. */
  readonly via: string;
}

/** Every append acknowledged as committed, by group. */
export class AckLog {
  readonly byGroup = new Map<number, Ack[]>();
  count = 0;

  add(group: number, lsn: number, payload: Uint8Array, via = "client"): void {
    let list = this.byGroup.get(group);
    if (!list) {
      list = [];
      this.byGroup.set(group, list);
    }
    list.push({ lsn, payload, via });
    this.count++;
  }
}

/** A unique, regenerable payload: phase keeps payloads of different loads (and probes) apart. */
export function payloadOf(group: number, phase: number, seq: number, size: number): Buffer {
  return makePayload(group, phase * 1e7 + seq, size);
}

export interface RunningLoad {
  /** Stops issuing appends and waits for the ones in flight (their acks are recorded too). */
  stop(): Promise<LoadResult>;
}

/**
 * The benches' append loop (runLoad) over groups 1..G, until stop(): `loops` appends in flight, each
 * acknowledged one recorded in `acks`; errors (timeouts, NOT_LEADER, INDETERMINATE...) are only counted.
 */
export function startLoad(
  client: PalfClient,
  acks: AckLog,
  o: { groups: number; loops: number; size: number; phase: number },
): RunningLoad {
  let stopped = false;
  const done = runLoad(client, {
    groups: o.groups,
    size: o.size,
    loops: o.loops,
    firstLoop: 0,
    totalLoops: o.loops,
    measureFrom: 0,
    // Read before every append: stop() ends the loops.
    get measureTo() {
      return stopped ? 0 : Number.MAX_SAFE_INTEGER;
    },
    payload: (g, seq) => payloadOf(g, o.phase, seq, o.size),
    onAck: (g, lsn, _seq, payload) => acks.add(g, lsn, payload),
  });
  return {
    stop: () => {
      stopped = true;
      return done;
    },
  };
}

/** One append per group through `client`, each of which must commit ("appends keep working"). */
export async function appendToEveryGroup(
  client: PalfClient,
  groups: readonly number[],
  acks: AckLog,
  phase: number,
): Promise<void> {
  await Promise.all(
    groups.map(async (g) => {
      const payload = payloadOf(g, phase, 1, 48);
      const r = await client.group(g).append(payload);
      acks.add(g, r.lsn, payload);
    }),
  );
}

// ------------------------------------------------------------------ nothing acknowledged lost

export interface VerifyReport {
  /** Empty when every check passed; otherwise the first problems found. */
  readonly problems: string[];
  readonly acked: number;
  /** Committed entries compared across nodes. */
  readonly entries: number;
}

/**
 * The check every fault test ends with, once its load has stopped. Waits until every node has caught up
 * (each group's committed end equal on every node and past every acknowledged LSN), then reads every
 * group's committed log from every node and checks:
 * - every node returns the same entries (LSN, CSN, bytes): no two replicas committed different entries;
 * - CSN strictly increases with LSN;
 * - every acknowledged append is at its LSN with its bytes, on every node;
 * - no acknowledged payload is in the log twice (retries are idempotent).
 */
export async function verifyNothingLost(o: {
  readonly probe: Transport;
  readonly nodes: readonly string[];
  readonly groups: readonly number[];
  readonly acks: AckLog;
  readonly catchUpMs?: number;
}): Promise<VerifyReport> {
  const problems: string[] = [];
  const note = (p: string) => {
    if (problems.length < 20) problems.push(p);
  };
  const needEnd = new Map<number, number>();
  for (const g of o.groups)
    needEnd.set(g, Math.max(0, ...(o.acks.byGroup.get(g) ?? []).map((a) => a.lsn + 1)));

  const lagging = async (): Promise<string[]> => {
    const out: string[] = [];
    await pool(o.groups, 16, async (g) => {
      const ends = await Promise.all(o.nodes.map((n) => groupStatus(o.probe, n, g, 3000)));
      const committed = ends.map((v) => v?.committedEnd ?? -1);
      if (committed.some((c) => c < needEnd.get(g)! || c !== committed[0]))
        out.push(
          `group ${g} needs ${needEnd.get(g)}: ${o.nodes.map((n, i) => `${n}@${committed[i]}`).join(",")}`,
        );
    });
    return out;
  };
  await waitFor(
    "every node caught up with every acknowledged append",
    async () => (await lagging()).length === 0,
    o.catchUpMs ?? 45_000,
    async () => (await lagging()).slice(0, 5).join("; "),
  );

  let entries = 0;
  await pool(o.groups, 8, async (g) => {
    const logs = new Map<string, ReadEntry[]>();
    for (const n of o.nodes) {
      try {
        logs.set(n, await readAll(o.probe, n, g));
      } catch (err) {
        note(`group ${g} on ${n}: ${(err as Error).message}`);
      }
    }
    const [first, ...others] = o.nodes;
    const ref = logs.get(first!);
    if (!ref) return;
    entries += ref.length;
    for (const n of others) {
      const log = logs.get(n);
      if (!log) continue;
      const diff = firstDifference(ref, log);
      if (diff !== undefined) note(`group ${g}: ${first} and ${n} differ ${diff}`);
    }
    for (let i = 1; i < ref.length; i++)
      if (ref[i]!.csn <= ref[i - 1]!.csn)
        note(`group ${g}: csn ${ref[i]!.csn} at lsn ${ref[i]!.lsn} is not above ${ref[i - 1]!.csn}`);
    const seen = new Map<string, number>();
    for (const e of ref) {
      const k = Buffer.from(e.payload).toString("base64");
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    const byLsn = new Map([...logs].map(([n, log]) => [n, new Map(log.map((e) => [e.lsn, e]))] as const));
    for (const a of o.acks.byGroup.get(g) ?? []) {
      for (const [n, log] of byLsn) {
        const e = log.get(a.lsn);
        if (!e) note(`group ${g}: acknowledged lsn ${a.lsn} (${a.via}) is missing on ${n}`);
        else if (Buffer.compare(Buffer.from(e.payload), Buffer.from(a.payload)) !== 0)
          note(`group ${g}: acknowledged lsn ${a.lsn} (${a.via}) holds other bytes on ${n}`);
      }
      const copies = seen.get(Buffer.from(a.payload).toString("base64")) ?? 0;
      if (copies > 1) note(`group ${g}: acknowledged lsn ${a.lsn} (${a.via}) is in the log ${copies} times`);
    }
  });
  return { problems, acked: o.acks.count, entries };
}

/** Fails with every problem of a report spelled out (and the seed's replay line). */
export function assertNothingLost(report: VerifyReport, replay: string): void {
  if (report.problems.length > 0)
    throw new Error(`nothing acknowledged may be lost, but:\n  ${report.problems.join("\n  ")}\n${replay}`);
}

interface ReadEntry {
  readonly lsn: number;
  readonly csn: number;
  readonly payload: Uint8Array;
}

/**
 * Every committed entry of a group on one node (up to its committed end), page by page. Pages are cut by
 * bytes as well as by count, so paging past a byte limit is exercised on every run.
 */
async function readAll(t: Transport, node: string, group: number): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  let from = 0;
  for (let failures = 0; ; ) {
    const res = await rpc(
      t,
      node,
      { op: "read", group, fromLsn: from, maxEntries: 2000, maxBytes: 64 * 1024 },
      5000,
    );
    if (!res.ok || res.op !== "read") {
      if (++failures >= 5) throw new Error(`read from ${from} failed: ${JSON.stringify(res)}`);
      await sleep(200);
      continue;
    }
    out.push(...res.entries);
    if (res.next <= from || res.next >= res.committedEnd) return out;
    from = res.next;
  }
}

/** Where two logs first differ, or undefined when they are equal. */
function firstDifference(a: readonly ReadEntry[], b: readonly ReadEntry[]): string | undefined {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (!x || !y) return `in length (${a.length} vs ${b.length} entries)`;
    if (
      x.lsn !== y.lsn ||
      x.csn !== y.csn ||
      Buffer.compare(Buffer.from(x.payload), Buffer.from(y.payload)) !== 0
    )
      return `at entry ${i}: lsn ${x.lsn}/${y.lsn} csn ${x.csn}/${y.csn}`;
  }
  return undefined;
}

// ------------------------------------------------------------------ errors a fault explains

/**
 * Answers a fault may cause and the client is told about honestly: it gave up waiting (TIMEOUT, UNAVAILABLE),
 * the entry was not applied (FAILED) or may have been (INDETERMINATE), or it was pushed back (NOT_LEADER, BUSY,
 * BACKPRESSURE, STOPPING). Any other code (INTERNAL, BAD_REQUEST, HALTED, UNKNOWN_GROUP, an error that is not
 * a PalfError, ...) is a bug the fault exposed.
 */
export const EXPLAINED_ERRORS: ReadonlySet<string> = new Set([
  "TIMEOUT",
  "UNAVAILABLE",
  "FAILED",
  "INDETERMINATE",
  "NOT_LEADER",
  "BUSY",
  "BACKPRESSURE",
  "STOPPING",
]);

/** Fails if the load saw an error no fault explains (see EXPLAINED_ERRORS). */
export function assertLoadErrorsExplained(errors: Record<string, number>, replay: string): void {
  const unexplained = Object.entries(errors).filter(([code]) => !EXPLAINED_ERRORS.has(code));
  if (unexplained.length > 0)
    throw new Error(
      `load errors no fault explains: ${JSON.stringify(Object.fromEntries(unexplained))}\n${replay}`,
    );
}
