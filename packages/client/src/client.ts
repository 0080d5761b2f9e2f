import { GTS_GROUP, GtsClient } from "@palf/gts";
import {
  connectNatsTransport,
  decodeLeaderEvents,
  isGroupId,
  type Logger,
  MAX_GROUP_ID,
  maxAppendItems,
  type NatsTransportOptions,
  type Runtime,
  realRuntime,
  type Transport,
  type Unsubscribe,
} from "@palf/transport";
import { Appender } from "./appender.ts";
import { Cursors } from "./cursors.ts";
import { Group } from "./group.ts";
import { LeaderCache } from "./leader-cache.ts";
import { Membership } from "./membership.ts";
import type { NodeStatus } from "./node-status.ts";
import { PalfError } from "./palf-error.ts";
import { Requester } from "./requester.ts";
import type { BackoffOptions } from "./retry-policy.ts";
import { ClientSession, randomSessionId } from "./session.ts";

/** How a client behaves on a given transport (`new PalfClient(transport, options)`). */
export interface ClientOptions {
  /** Known node ids (the seed list): tried in turn while a group's leader is unknown. */
  readonly nodes: readonly string[];
  /**
   * Clock, timers and randomness (session id, backoff jitter). Default: the real ones; the whole-node
   * simulator passes its virtual ones, so the client runs seeded and replayable.
   */
  readonly runtime?: Runtime;
  /** Session id for idempotent appends. Default: random 48 bits. */
  readonly sessionId?: number;
  /** One RPC round trip at most (ms). Default 5000. */
  readonly requestTimeoutMs?: number;
  /** One append at most, retries included (ms). Default 30000. */
  readonly appendTimeoutMs?: number;
  /** One read, locate or admin call at most, retries included (ms). Default 30000. */
  readonly operationTimeoutMs?: number;
  /** Requests per call or append at most, first try included. Default 20. */
  readonly maxAttempts?: number;
  readonly backoff?: BackoffOptions;
  /** Append requests in flight per client. Default 64. */
  readonly maxInFlight?: number;
  /**
   * Append requests in flight per group (default: only maxInFlight bounds them). 1 makes a group's seqs
   * reach its leader strictly in order, retries included: needed while a node remembers only the last seq
   * of each session (a lower seq is then answered INDETERMINATE).
   */
  readonly maxInFlightPerGroup?: number;
  /** Appends per request at most. Default 1024. */
  readonly maxBatchItems?: number;
  /** Bytes per append request at most. Default 256 KiB (never above the transport's frame limit). */
  readonly maxBatchBytes?: number;
  /** Append bytes waiting to be sent before appends are refused with BACKPRESSURE. Default 64 MiB. */
  readonly maxQueuedBytes?: number;
  /** Groups whose leader is remembered. Default 10000. */
  readonly leaderCacheSize?: number;
}

export interface ConnectOptions extends ClientOptions {
  /** The cluster name (`palf.<cluster>.*` subjects). */
  readonly cluster: string;
  /** NATS servers, e.g. "nats://127.0.0.1:4222". Needed unless `transport` is given. */
  readonly servers?: string | readonly string[];
  /** NATS connection options passed through as is: user/pass, token, authenticator (nkeys, creds), tls. */
  readonly connection?: NatsTransportOptions["connection"];
  /** A ready transport (in-memory for tests and the demo); the client does not close it. */
  readonly transport?: Transport;
  /** This client's node id on NATS. Default `client-<random>`. */
  readonly clientId?: string;
  /** For the NATS transport's log lines. */
  readonly log?: Logger;
}

export interface CreateGroupOptions {
  readonly learners?: readonly string[];
  /** Incarnation id, the same on every replica. Default: the wall clock in ms, chosen once for all of them. */
  readonly inc?: number;
}

export interface CreateGroupResult {
  readonly group: number;
  readonly inc: number;
  /** Every node that now hosts a replica (members, then learners). */
  readonly nodes: readonly string[];
}

export interface DeleteGroupResult {
  readonly group: number;
  /** Nodes that deleted their replica. */
  readonly deleted: readonly string[];
  /** Nodes that had none (UNKNOWN_GROUP). */
  readonly absent: readonly string[];
}

/** One node's status, or why it could not be had. */
export type NodeStatusReport =
  | { readonly node: string; readonly status: NodeStatus | undefined }
  | { readonly node: string; readonly error: PalfError };

/**
 * Connects a client: over NATS (`servers`, with credentials and TLS in `connection`) or over a given
 * transport. Resolves once the leadership-event subscription is live; rejects with UNAVAILABLE when NATS
 * cannot be reached.
 */
export async function connect(o: ConnectOptions): Promise<PalfClient> {
  if (o.nodes.length === 0) throw new PalfError("BAD_REQUEST", "connect needs at least one node id in nodes");
  let transport = o.transport;
  const owned = transport === undefined;
  if (transport !== undefined && transport.cluster !== o.cluster)
    throw new PalfError("BAD_REQUEST", `the transport is for cluster ${transport.cluster}, not ${o.cluster}`);
  if (transport === undefined) {
    if (o.servers === undefined) throw new PalfError("BAD_REQUEST", "connect needs servers or a transport");
    const where = typeof o.servers === "string" ? o.servers : o.servers.join(",");
    const rt = o.runtime ?? realRuntime;
    try {
      transport = await connectNatsTransport({
        cluster: o.cluster,
        nodeId: o.clientId ?? `client-${randomSessionId(rt).toString(16).padStart(12, "0")}`,
        servers: o.servers,
        ...(o.connection === undefined ? {} : { connection: o.connection }),
        ...(o.log === undefined ? {} : { log: o.log }),
      });
    } catch (e) {
      throw new PalfError("UNAVAILABLE", `cannot connect to NATS at ${where}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
  const client = new PalfClient(transport, o, owned);
  try {
    await client.ready();
  } catch (e) {
    await client.close();
    throw e;
  }
  return client;
}

/**
 * A PALF client: groups for appends and reads, admin calls (create, delete, status, leader transfer).
 * Leaders are found from leadership events, NOT_LEADER hints and the seed list.
 */
export class PalfClient {
  readonly cluster: string;
  /** This client's id on the transport. */
  readonly clientId: string;
  /** The session id its appends carry. */
  readonly sessionId: number;
  /** Its clock, timers and randomness. */
  readonly runtime: Runtime;
  private readonly cache: LeaderCache;
  private readonly requester: Requester;
  private readonly appender: Appender;
  private readonly operationTimeoutMs: number;
  private readonly unsubscribe: Unsubscribe;
  private closing: Promise<void> | undefined;
  private gtsClient: GtsClient | undefined;
  private readonly seedNodes: readonly string[];

  /**
   * A client on a ready transport (connect() makes one over NATS). `ownsTransport`: close() closes the
   * transport too. Call ready() before relying on leadership events.
   */
  constructor(
    private readonly transport: Transport,
    o: ClientOptions,
    private readonly ownsTransport = false,
  ) {
    if (o.nodes.length === 0)
      throw new PalfError("BAD_REQUEST", "a client needs at least one node id in nodes");
    this.cluster = transport.cluster;
    this.clientId = transport.nodeId;
    this.seedNodes = o.nodes;
    this.runtime = o.runtime ?? realRuntime;
    const session = new ClientSession(o.sessionId ?? randomSessionId(this.runtime));
    this.sessionId = session.id;
    this.cache = new LeaderCache(o.nodes, o.leaderCacheSize ?? 10_000);
    const backoff = o.backoff ?? {};
    this.requester = new Requester({
      transport,
      runtime: this.runtime,
      cache: this.cache,
      requestTimeoutMs: o.requestTimeoutMs ?? 5_000,
      maxAttempts: o.maxAttempts ?? 20,
      backoff,
    });
    this.operationTimeoutMs = o.operationTimeoutMs ?? 30_000;
    // Room for the request's own framing around the items.
    const frameRoom = transport.maxFrameBytes - 1024;
    this.appender = new Appender({
      requester: this.requester,
      session,
      appendTimeoutMs: o.appendTimeoutMs ?? 30_000,
      maxInFlight: o.maxInFlight ?? 64,
      maxInFlightPerGroup: o.maxInFlightPerGroup,
      // A node refuses an append whose reply could not fit one frame.
      maxBatchItems: Math.min(o.maxBatchItems ?? 1024, maxAppendItems(transport.maxFrameBytes)),
      maxBatchBytes: Math.min(o.maxBatchBytes ?? 256 * 1024, frameRoom),
      maxPayloadBytes: frameRoom - 128,
      maxQueuedBytes: o.maxQueuedBytes ?? 64 * 1024 * 1024,
      backoff,
    });
    this.unsubscribe = transport.subscribe("events.leader", (_topic, payload) => {
      for (const e of decodeLeaderEvents(payload)) this.cache.onLeaderEvent(e.group, e.leader, e.pid);
    });
  }

  /** Resolves once the leader-event subscription reached the server. */
  async ready(): Promise<void> {
    await this.transport.flush();
  }

  /** A handle on one group. */
  group(id: number): Group {
    return new Group(id, {
      appender: this.appender,
      requester: this.requester,
      operationTimeoutMs: this.operationTimeoutMs,
    });
  }

  /** Named, durable reader cursors that hold back log retention (see Cursors). */
  cursors(): Cursors {
    this.checkOpen();
    return new Cursors(this);
  }

  /** Membership changes and the groups each node hosts (see Membership). */
  membership(): Membership {
    this.checkOpen();
    return new Membership(this.requester, this.seedNodes, this.operationTimeoutMs);
  }

  /** The cluster's timestamp service: one request in flight for this whole client, ranges shared by callers. */
  get gts(): GtsClient {
    this.gtsClient ??= new GtsClient(this.transport, {
      runtime: this.runtime,
      nodes: () => {
        const leader = this.cache.leader(GTS_GROUP);
        return leader === undefined
          ? this.seedNodes
          : [leader, ...this.seedNodes.filter((n) => n !== leader)];
      },
    });
    return this.gtsClient;
  }

  /** A GTS timestamp above every one given before this call (use it as an append's refCsn). */
  timestamp(): Promise<number> {
    return this.gts.timestamp();
  }

  /**
   * Commit wait: resolves once GTS has moved past `csn`. Answer your own client only after this, so that a
   * snapshot read at any later GTS value sees the commit.
   */
  waitGtsAbove(csn: number): Promise<number> {
    return this.gts.waitAbove(csn);
  }

  /** Raw cluster events (`events.leader`, `events.watermarks`), e.g. for a CDC reader. */
  subscribe(topic: `events.${string}`, handler: (topic: string, payload: Uint8Array) => void): () => void {
    return this.transport.subscribe(topic, handler);
  }

  /** Resolves once earlier subscriptions reached the server. */
  flush(): Promise<void> {
    return this.transport.flush();
  }

  /** The node ids this client was given. */
  get nodes(): readonly string[] {
    return this.seedNodes;
  }

  /** The leader this client believes a group has (from events and redirects), if any. */
  leaderOf(group: number): string | undefined {
    return this.cache.leader(group);
  }

  /** Append requests in flight now. */
  get appendsInFlight(): number {
    return this.appender.inFlight;
  }

  /**
   * Creates a group: sends createGroup, with one incarnation id, to every member and learner node.
   * Rejects (naming each node that failed) unless every one of them created (or already had) it.
   */
  async createGroup(
    group: number,
    members: readonly string[],
    o: CreateGroupOptions = {},
  ): Promise<CreateGroupResult> {
    this.checkOpen();
    checkGroup(group);
    const learners = o.learners ?? [];
    const nodes = [...members, ...learners];
    if (members.length === 0) throw new PalfError("BAD_REQUEST", "createGroup needs at least one member");
    if (new Set(nodes).size !== nodes.length)
      throw new PalfError("BAD_REQUEST", `createGroup: a node is listed twice in ${nodes.join(",")}`);
    const inc = o.inc ?? this.runtime.wallNow();
    const request = {
      op: "createGroup" as const,
      group,
      members,
      inc,
      ...(learners.length === 0 ? {} : { learners }),
    };
    const outcomes = await Promise.allSettled(
      nodes.map((node) =>
        this.requester.toNode(node, request, {
          timeoutMs: this.operationTimeoutMs,
          what: `createGroup ${group} on ${node}`,
        }),
      ),
    );
    const failures = outcomes.flatMap((r, i) =>
      r.status === "rejected" ? [{ node: nodes[i]!, error: asPalfError(r.reason) }] : [],
    );
    if (failures.length > 0) throw aggregate(`createGroup ${group}`, failures, nodes.length, group);
    return { group, inc, nodes };
  }

  /**
   * Deletes a group's replicas: sends deleteGroup to `nodes` (default: the seed list and the known
   * leader). Nodes that have no replica answer UNKNOWN_GROUP, which counts as done.
   */
  /**
   * Recycling: every replica of `group` (on the seed nodes, or `nodes`) may drop entries below `lsn`, up to
   * its own committed end. Reads below the new base then answer RECYCLED. Returns each node's new base.
   */
  async advanceBase(
    group: number,
    lsn: number,
    o: { readonly nodes?: readonly string[] } = {},
  ): Promise<Record<string, number>> {
    this.checkOpen();
    checkGroup(group);
    const nodes = [...(o.nodes ?? this.cache.seedNodes())];
    const out: Record<string, number> = {};
    await Promise.all(
      nodes.map(async (node) => {
        try {
          const r = await this.requester.toNode(
            node,
            { op: "advanceBase", group, lsn },
            { timeoutMs: this.operationTimeoutMs, what: `advanceBase of group ${group} on ${node}` },
          );
          if (r.op === "advanceBase") out[node] = r.base;
        } catch (err) {
          if (asPalfError(err).code !== "UNKNOWN_GROUP") throw err;
        }
      }),
    );
    return out;
  }

  async deleteGroup(
    group: number,
    o: { readonly nodes?: readonly string[] } = {},
  ): Promise<DeleteGroupResult> {
    this.checkOpen();
    checkGroup(group);
    const leader = this.cache.leader(group);
    const nodes = [
      ...new Set([...(o.nodes ?? this.cache.seedNodes()), ...(leader === undefined ? [] : [leader])]),
    ];
    const outcomes = await Promise.allSettled(
      nodes.map((node) =>
        this.requester.toNode(
          node,
          { op: "deleteGroup", group },
          { timeoutMs: this.operationTimeoutMs, what: `deleteGroup ${group} on ${node}` },
        ),
      ),
    );
    const deleted: string[] = [];
    const absent: string[] = [];
    const failures: Array<{ node: string; error: PalfError }> = [];
    outcomes.forEach((r, i) => {
      const node = nodes[i]!;
      if (r.status === "fulfilled") deleted.push(node);
      else if (asPalfError(r.reason).code === "UNKNOWN_GROUP") absent.push(node);
      else failures.push({ node, error: asPalfError(r.reason) });
    });
    if (failures.length > 0) throw aggregate(`deleteGroup ${group}`, failures, nodes.length, group);
    return { group, deleted, absent };
  }

  /** One node's status (as the node reports it); rejects if the node does not answer. */
  status(node: string, o?: { readonly group?: number }): Promise<unknown>;
  /** Every seed node's status, or its error. */
  status(): Promise<NodeStatusReport[]>;
  async status(node?: string, o: { readonly group?: number } = {}): Promise<unknown> {
    this.checkOpen();
    const request = { op: "status" as const, ...(o.group === undefined ? {} : { group: o.group }) };
    const ask = (n: string) =>
      this.requester.toNode(n, request, { timeoutMs: this.operationTimeoutMs, what: `status of ${n}` });
    if (node !== undefined) {
      const r = await ask(node);
      return r.op === "status" ? r.status : undefined;
    }
    const nodes = this.cache.seedNodes();
    const outcomes = await Promise.allSettled(nodes.map(ask));
    return outcomes.map(
      (r, i): NodeStatusReport =>
        r.status === "fulfilled"
          ? { node: nodes[i]!, status: r.value.op === "status" ? (r.value.status as NodeStatus) : undefined }
          : { node: nodes[i]!, error: asPalfError(r.reason) },
    );
  }

  /** Asks a group's leader to hand leadership to `target`; resolves once the leader accepted the request. */
  async transferLeader(group: number, target: string): Promise<void> {
    this.checkOpen();
    checkGroup(group);
    await this.requester.toGroup(
      group,
      { op: "transferLeader", group, target },
      { timeoutMs: this.operationTimeoutMs, what: `transferLeader of group ${group} to ${target}` },
    );
  }

  /**
   * Closes the client: appends not yet sent fail with CLOSED (INDETERMINATE if an earlier attempt may
   * have reached a leader), requests in flight finish, and a NATS connection the client opened is drained.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.requester.close();
      this.gtsClient?.close();
      this.unsubscribe();
      await this.appender.close();
      if (this.ownsTransport) await this.transport.close();
    })();
    return this.closing;
  }

  private checkOpen(): void {
    if (this.closing !== undefined) throw new PalfError("CLOSED", "the client is closed");
  }
}

function checkGroup(group: number): void {
  if (!isGroupId(group))
    throw new PalfError("BAD_REQUEST", `group id ${group} is not a uint32 (0 to ${MAX_GROUP_ID})`);
}

function asPalfError(e: unknown): PalfError {
  return e instanceof PalfError
    ? e
    : new PalfError("INTERNAL", String((e as Error)?.message ?? e), { cause: e });
}

/** One error for a call to several nodes: the first failure's code, every failure in the message. */
function aggregate(
  what: string,
  failures: ReadonlyArray<{ node: string; error: PalfError }>,
  total: number,
  group: number,
): PalfError {
  const list = failures.map((f) => `${f.node}: ${f.error.message}`).join("; ");
  return new PalfError(
    failures[0]!.error.code,
    `${what} failed on ${failures.length} of ${total} nodes (${list})`,
    {
      group,
      node: failures[0]!.node,
      cause: failures.map((f) => f.error),
    },
  );
}
