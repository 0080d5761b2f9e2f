import { randomBytes } from "node:crypto";
import {
  ClosedConnectionError,
  connect,
  type NatsConnection,
  type NodeConnectionOptions,
  NoRespondersError,
  RequestError,
  TimeoutError,
} from "@nats-io/transport-node";
import type { Message } from "@palf/core";
import { framesOf, sendAllYielding } from "./outbound.ts";
import { DEFAULT_MAX_FRAME_BYTES, type DecodeOptions } from "./peer-codec.ts";
import { PeerInbox } from "./peer-inbox.ts";
import { BUNDLED_ITEM_OVERHEAD, fitReply } from "./reply-limit.ts";
import { type BundleItem, decodeBundle, encodeBundle, isBundle } from "./rpc-bundle.ts";
import { encodeRpc } from "./rpc-protocol.ts";
import {
  adminSubject,
  checkToken,
  checkTopic,
  type NodeId,
  peerSubject,
  peerWildcard,
  rpcSubject,
  type Topic,
  topicSubject,
} from "./subjects.ts";
import {
  consoleLogger,
  emptyStats,
  type FrameHandler,
  type Logger,
  type MessagesHandler,
  type Outbound,
  type RequestOptions,
  type RpcHandler,
  type TopicHandler,
  type Transport,
  TransportError,
  type TransportStats,
  type TransportStatus,
  type Unsubscribe,
} from "./transport.ts";

export interface NatsTransportOptions {
  readonly cluster: string;
  readonly nodeId: NodeId;
  /** e.g. "nats://10.0.0.1:4222" or several for a NATS cluster. */
  readonly servers: string | readonly string[];
  /**
   * Passed through to the NATS client as is: credentials (`user`/`pass`, `token`, `authenticator` from
   * `nkeyAuthenticator` / `credsAuthenticator`), `tls` (certFile, keyFile, caFile...), reconnect timing.
   * The transport sets `servers`, a default `name`, and reconnects forever unless told otherwise.
   */
  readonly connection?: Omit<NodeConnectionOptions, "servers" | "port">;
  /** Default DEFAULT_MAX_FRAME_BYTES; lowered to the server's max_payload if that is smaller. */
  readonly maxFrameBytes?: number;
  readonly decode?: DecodeOptions;
  readonly log?: Logger;
}

/** Connects to NATS and subscribes to this node's peer subjects. Rejects if the first connect fails. */
export async function connectNatsTransport(o: NatsTransportOptions): Promise<NatsTransport> {
  const cluster = checkToken("cluster", o.cluster);
  const nodeId = checkToken("node id", o.nodeId);
  const nc = await connect({
    name: `palf-${cluster}-${nodeId}`,
    maxReconnectAttempts: -1,
    ...o.connection,
    servers: typeof o.servers === "string" ? o.servers : [...o.servers],
  });
  const transport = new NatsTransport(nc, { ...o, cluster, nodeId });
  // The peer subscription is live at the server before anyone is told this node is up.
  await transport.flush();
  return transport;
}

/**
 * The Transport over one NATS connection. Peer traffic arrives through one wildcard subscription per node
 * with a callback (no async iterator); payloads carry all fields, no NATS headers (they halve publish rate).
 */
export class NatsTransport implements Transport {
  readonly cluster: string;
  readonly nodeId: NodeId;
  readonly maxFrameBytes: number;
  private readonly counters = emptyStats();
  private readonly inbox: PeerInbox;
  private readonly log: Logger;
  private readonly statusHandlers = new Set<(s: TransportStatus) => void>();
  private serving = false;
  private readonly replyPrefix = `_INBOX.palf.${randomBytes(8).toString("hex")}`;
  private repliesSubscribed = false;
  private replies: Array<{ msg: { respond(data: Uint8Array): boolean }; reply: Uint8Array }> = [];
  private bundledReplies = new Map<string, BundleItem[]>();
  private repliesScheduled = false;
  private outgoing = new Map<string, BundleItem[]>();
  private outgoingScheduled = false;
  private nextBundle = 1;
  /** Request ids of each bundle sent, until its first answer (a 503 "no responders" names only the bundle). */
  private readonly bundles = new Map<number, number[]>();
  private nextRequest = 1;
  private readonly pendingRequests = new Map<
    number,
    { toNode: string; resolve: (b: Uint8Array) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  private closing: Promise<void> | undefined;

  constructor(
    private readonly nc: NatsConnection,
    o: NatsTransportOptions,
  ) {
    this.cluster = o.cluster;
    this.nodeId = o.nodeId;
    this.log = o.log ?? consoleLogger;
    const wanted = o.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const serverMax = nc.info?.max_payload ?? Number.POSITIVE_INFINITY;
    this.maxFrameBytes = Math.min(wanted, serverMax);
    if (wanted > serverMax)
      this.log("warn", `maxFrameBytes ${wanted} lowered to the server's max_payload ${serverMax}`);
    this.inbox = new PeerInbox(this.counters, this.log, {
      // A peer may have been configured with a larger limit: accept what the server let through.
      maxFrameBytes: Math.max(wanted, this.maxFrameBytes),
      ...o.decode,
    });
    // Lives as long as the connection: close() drains it. The client re-subscribes after a reconnect.
    nc.subscribe(peerWildcard(this.cluster, this.nodeId), {
      callback: (err, msg) => {
        if (err) this.emit({ type: "error", error: err });
        else this.inbox.deliver(msg.subject, msg.data);
      },
    });
    void this.watchStatus();
  }

  send(toNode: NodeId, shard: number, frameOrMessages: Uint8Array | readonly Message[]): void {
    this.sendCounted({ toNode, shard, frameOrMessages });
  }

  sendAll(outbound: Iterable<Outbound>): Promise<void> {
    return sendAllYielding(outbound, (o) => this.sendCounted(o));
  }

  /** The frame may be a view into the client's read buffer: copy it to keep it past the handler. */
  onFrame(handler: FrameHandler): Unsubscribe {
    return this.inbox.onFrame(handler);
  }

  onMessages(handler: MessagesHandler): Unsubscribe {
    return this.inbox.onMessages(handler);
  }

  /**
   * Client RPC over one reply subscription of our own, matched by a request id in the reply subject. The NATS
   * client's request() builds error objects with stack traces for every call (a quarter of a busy client's CPU).
   */
  request(toNode: NodeId, payload: Uint8Array, timeoutMs: number, o?: RequestOptions): Promise<Uint8Array> {
    const node = checkToken("node id", toNode);
    const subject = o?.admin ? adminSubject(this.cluster, node) : rpcSubject(this.cluster, node);
    if (this.nc.isClosed()) return Promise.reject(new TransportError("closed", "transport is closed"));
    this.ensureReplies();
    return new Promise((resolve, reject) => {
      const id = this.nextRequest++ >>> 0;
      const timer = setTimeout(() => {
        this.pendingRequests.delete(id);
        reject(new TransportError("timeout", `request to ${toNode} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pendingRequests.set(id, { toNode, resolve, reject, timer });
      let list = this.outgoing.get(subject);
      if (!list) {
        list = [];
        this.outgoing.set(subject, list);
      }
      list.push({ id, payload });
      if (!this.outgoingScheduled) {
        this.outgoingScheduled = true;
        setImmediate(() => this.sendRequests());
      }
    });
  }

  /**
   * Requests of one event-loop turn leave as one message per node (a bundle when there are several), or as
   * a few when together they would pass the frame limit.
   */
  private sendRequests(): void {
    this.outgoingScheduled = false;
    const outgoing = this.outgoing;
    this.outgoing = new Map();
    for (const [subject, all] of outgoing)
      for (const items of bundlesWithin(all, this.maxFrameBytes)) this.publishRequests(subject, items);
  }

  private publishRequests(subject: string, items: BundleItem[]): void {
    try {
      if (items.length === 1) {
        const it = items[0]!;
        this.nc.publish(subject, it.payload, { reply: `${this.replyPrefix}.${it.id}` });
      } else {
        const bundle = this.nextBundle++;
        this.bundles.set(
          bundle,
          items.map((it) => it.id),
        );
        if (this.bundles.size > 4096) this.bundles.delete(this.bundles.keys().next().value as number);
        this.nc.publish(subject, encodeBundle(items), { reply: `${this.replyPrefix}.b${bundle}` });
      }
    } catch (e) {
      for (const it of items) {
        const p = this.pendingRequests.get(it.id);
        if (!p) continue;
        this.pendingRequests.delete(it.id);
        clearTimeout(p.timer);
        p.reject(rpcError(e, p.toNode, 0));
      }
    }
  }

  private ensureReplies(): void {
    if (this.repliesSubscribed) return;
    this.repliesSubscribed = true;
    this.nc.subscribe(`${this.replyPrefix}.*`, {
      callback: (err, msg) => {
        if (err) return this.emit({ type: "error", error: err });
        const tail = msg.subject.slice(this.replyPrefix.length + 1);
        if (tail.startsWith("b"))
          return this.onBundleReply(Number(tail.slice(1)), msg.data, msg.headers?.code === 503);
        this.settle(Number(tail), msg.data, msg.headers?.code === 503);
      },
    });
  }

  private onBundleReply(bundle: number, data: Uint8Array, noResponders: boolean): void {
    const ids = this.bundles.get(bundle);
    this.bundles.delete(bundle);
    if (noResponders) {
      for (const id of ids ?? []) this.settle(id, data, true);
      return;
    }
    const items = decodeBundle(data);
    if (typeof items === "string") return this.log("warn", `dropped a malformed bundled reply: ${items}`);
    for (const it of items) this.settle(it.id, it.payload, false);
  }

  private settle(id: number, data: Uint8Array, noResponders: boolean): void {
    const p = this.pendingRequests.get(id);
    if (!p) return;
    this.pendingRequests.delete(id);
    clearTimeout(p.timer);
    // The server answers a request nobody subscribes to with a 503 status and no data.
    if (noResponders) p.reject(new TransportError("noResponders", `no node ${p.toNode} is serving requests`));
    else p.resolve(data);
  }

  serve(handler: RpcHandler): Unsubscribe {
    if (this.serving) throw new Error(`node ${this.nodeId} already serves requests`);
    this.serving = true;
    const adminRequests = adminSubject(this.cluster, this.nodeId);
    const serveOn = (subject: string) =>
      this.nc.subscribe(subject, {
        callback: (err, msg) => {
          const via = { admin: subject === adminRequests };
          if (err) return this.emit({ type: "error", error: err });
          // A handler that throws or rejects sends no reply: the requester sees a timeout.
          const fail = (e: unknown) => {
            this.counters.handlerErrors++;
            this.log("error", "an RPC handler failed", e);
          };
          if (isBundle(msg.data) && msg.reply) {
            const items = decodeBundle(msg.data);
            if (typeof items === "string") {
              // Answered, not dropped: a requester with a reply subject always gets a clear code.
              this.counters.framesRejected++;
              const message = `malformed request bundle: ${items}`;
              return this.queueReply(msg, encodeRpc({ ok: false, error: { code: "BAD_REQUEST", message } }));
            }
            const to = msg.reply;
            for (const it of items) {
              try {
                Promise.resolve(handler(it.payload, via)).then(
                  (reply) => this.queueBundledReply(to, it.id, reply),
                  fail,
                );
              } catch (e) {
                fail(e);
              }
            }
            return;
          }
          try {
            Promise.resolve(handler(msg.data, via)).then((reply) => this.queueReply(msg, reply), fail);
          } catch (e) {
            fail(e);
          }
        },
      });
    const subs = [serveOn(rpcSubject(this.cluster, this.nodeId)), serveOn(adminRequests)];
    return () => {
      this.serving = false;
      for (const sub of subs) sub.unsubscribe();
    };
  }

  /**
   * Replies leave together once per event-loop turn: each one settles in its own microtask, and the NATS
   * client flushes its buffer at the end of each, so sent one by one they cost a socket write each.
   */
  private queueReply(msg: { respond(data: Uint8Array): boolean }, reply: Uint8Array): void {
    this.replies.push({ msg, reply });
    this.scheduleReplies();
  }

  /** Answers to a bundle go back bundled too: everything settled for one requester in one message. */
  private queueBundledReply(to: string, id: number, reply: Uint8Array): void {
    let list = this.bundledReplies.get(to);
    if (!list) {
      list = [];
      this.bundledReplies.set(to, list);
    }
    list.push({ id, payload: reply });
    this.scheduleReplies();
  }

  private scheduleReplies(): void {
    if (this.repliesScheduled) return;
    this.repliesScheduled = true;
    setImmediate(() => {
      this.repliesScheduled = false;
      const replies = this.replies;
      this.replies = [];
      for (const r of replies) {
        try {
          if (!r.msg.respond(this.fit(r.reply, this.maxFrameBytes))) this.counters.sendErrors++;
        } catch {
          this.counters.sendErrors++;
        }
      }
      const bundled = this.bundledReplies;
      this.bundledReplies = new Map();
      const itemMax = this.maxFrameBytes - BUNDLED_ITEM_OVERHEAD;
      for (const [to, all] of bundled) {
        const fitted = all.map((it) => ({ id: it.id, payload: this.fit(it.payload, itemMax) }));
        for (const items of bundlesWithin(fitted, this.maxFrameBytes)) {
          try {
            this.nc.publish(to, encodeBundle(items));
          } catch {
            this.counters.sendErrors++;
          }
        }
      }
    });
  }

  /** A reply above the frame limit becomes a TOO_LARGE answer (counted), never a throw in setImmediate. */
  private fit(reply: Uint8Array, maxBytes: number): Uint8Array {
    const out = fitReply(reply, maxBytes);
    if (out.replaced) this.counters.repliesTooLarge++;
    return out.reply;
  }

  publish(topic: Topic, payload: Uint8Array): void {
    this.publishCounted(topicSubject(this.cluster, checkTopic(topic, false)), payload);
  }

  subscribe(topic: Topic, handler: TopicHandler): Unsubscribe {
    const prefix = `palf.${this.cluster}.`;
    const sub = this.nc.subscribe(topicSubject(this.cluster, checkTopic(topic, true)), {
      callback: (err, msg) => {
        if (err) this.emit({ type: "error", error: err });
        else this.inbox.guard(() => handler(msg.subject.slice(prefix.length), msg.data));
      },
    });
    return () => sub.unsubscribe();
  }

  async flush(): Promise<void> {
    try {
      await this.nc.flush();
    } catch (e) {
      throw new TransportError("closed", "cannot flush a closed connection", { cause: e });
    }
  }

  onStatus(handler: (status: TransportStatus) => void): Unsubscribe {
    this.statusHandlers.add(handler);
    return () => this.statusHandlers.delete(handler);
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  /** Drains (delivers what is in flight both ways), then closes; a dead connection is just closed. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const p of this.pendingRequests.values()) {
        clearTimeout(p.timer);
        p.reject(new TransportError("closed", "transport is closed"));
      }
      this.pendingRequests.clear();
      if (this.nc.isClosed()) return;
      try {
        await this.nc.drain();
      } catch {
        await this.nc.close();
      }
    })();
    return this.closing;
  }

  private sendCounted(o: Outbound): number {
    const subject = peerSubject(this.cluster, checkToken("node id", o.toNode), o.shard, this.nodeId);
    let bytes = 0;
    for (const frame of framesOf(o.frameOrMessages, this.maxFrameBytes)) {
      if (this.publishCounted(subject, frame)) bytes += frame.length;
    }
    return bytes;
  }

  /** While reconnecting the client buffers publishes; only a closed connection fails here. */
  private publishCounted(subject: string, payload: Uint8Array): boolean {
    try {
      this.nc.publish(subject, payload);
      this.counters.framesSent++;
      this.counters.bytesSent += payload.length;
      return true;
    } catch (e) {
      this.counters.sendErrors++;
      if (!(e instanceof ClosedConnectionError)) this.log("warn", `publish to ${subject} failed`, e);
      return false;
    }
  }

  private async watchStatus(): Promise<void> {
    try {
      for await (const s of this.nc.status()) {
        switch (s.type) {
          case "disconnect":
            this.log("warn", `disconnected from ${s.server}`);
            this.emit({ type: "disconnect" });
            break;
          case "reconnect":
            this.log("info", `reconnected to ${s.server}`);
            this.emit({ type: "reconnect" });
            break;
          case "slowConsumer":
            this.emit({ type: "slowConsumer", pending: s.pending });
            break;
          case "error":
            this.emit({ type: "error", error: s.error });
            break;
        }
      }
    } catch (e) {
      this.log("error", "NATS status stream failed", e);
    }
  }

  private emit(s: TransportStatus): void {
    for (const h of this.statusHandlers) this.inbox.guard(() => h(s));
  }
}

/**
 * Cuts a turn's requests or replies to one destination into bundles below the frame limit: a bundle above
 * the server's max_payload is refused as a whole, and every request in it would time out (and time out
 * again when retried the same way). One item above the limit still goes alone, and fails alone.
 */
function bundlesWithin(items: readonly BundleItem[], maxBytes: number): BundleItem[][] {
  const out: BundleItem[][] = [];
  let current: BundleItem[] = [];
  let size = BUNDLE_HEADER_BYTES;
  for (const it of items) {
    const add = BUNDLE_ITEM_BYTES + it.payload.length;
    if (current.length > 0 && size + add > maxBytes) {
      out.push(current);
      current = [];
      size = BUNDLE_HEADER_BYTES;
    }
    current.push(it);
    size += add;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** encodeBundle's framing: marker + count, then id + length per item. */
const BUNDLE_HEADER_BYTES = 5;
const BUNDLE_ITEM_BYTES = 8;

function rpcError(e: unknown, toNode: NodeId, timeoutMs: number): TransportError {
  const cause = { cause: e };
  if (e instanceof TimeoutError)
    return new TransportError("timeout", `request to ${toNode} timed out after ${timeoutMs} ms`, cause);
  if (e instanceof NoRespondersError || (e instanceof RequestError && e.isNoResponders()))
    return new TransportError("noResponders", `no node ${toNode} is serving requests`, cause);
  if (e instanceof ClosedConnectionError) return new TransportError("closed", "transport is closed", cause);
  return new TransportError("failed", `request to ${toNode} failed: ${(e as Error).message}`, cause);
}
