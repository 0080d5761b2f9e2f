import type { Message } from "@palf/core";
import { framesOf, sendAllYielding } from "./outbound.ts";
import { DEFAULT_MAX_FRAME_BYTES, type DecodeOptions } from "./peer-codec.ts";
import { PeerInbox } from "./peer-inbox.ts";
import { fitReply } from "./reply-limit.ts";
import {
  adminSubject,
  checkToken,
  checkTopic,
  type NodeId,
  peerSubject,
  peerWildcard,
  rpcSubject,
  subjectMatches,
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

type Deliver = (subject: string, payload: Uint8Array, reply?: (payload: Uint8Array) => void) => void;

interface Sub {
  readonly pattern: string;
  readonly deliver: Deliver;
  active: boolean;
}

/**
 * An in-process stand-in for a NATS server: subjects and wildcards as NATS has them, deliveries in a FIFO
 * queue run from setImmediate. So delivery is asynchronous (a handler never runs inside send), in order
 * per link, and two nodes answering each other forever cannot starve timers and I/O (unlike microtasks).
 */
export class MemoryBus {
  private subs: Sub[] = [];
  private queue: Array<() => void> = [];
  private scheduled = false;
  private idleWaiters: Array<() => void> = [];

  /** Subscribers are matched when a message is published, as NATS does. Returns how many matched. */
  publish(subject: string, payload: Uint8Array, reply?: (payload: Uint8Array) => void): number {
    let matched = 0;
    for (const sub of this.subs) {
      if (!sub.active || !subjectMatches(sub.pattern, subject)) continue;
      matched++;
      this.enqueue(() => {
        if (sub.active) sub.deliver(subject, payload, reply);
      });
    }
    return matched;
  }

  subscribe(pattern: string, deliver: Deliver): Unsubscribe {
    const sub: Sub = { pattern, deliver, active: true };
    this.subs.push(sub);
    return () => {
      sub.active = false;
      this.subs = this.subs.filter((s) => s !== sub);
    };
  }

  /** Runs `run` after everything queued so far. */
  enqueue(run: () => void): void {
    this.queue.push(run);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  /** Resolves once no delivery is queued (including deliveries queued by handlers meanwhile). */
  settled(): Promise<void> {
    if (this.queue.length === 0 && !this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private drain(): void {
    // Only what was queued before this turn: what handlers queue now waits for the next turn.
    const batch = this.queue;
    this.queue = [];
    for (const run of batch) run();
    if (this.queue.length > 0) {
      setImmediate(() => this.drain());
      return;
    }
    this.scheduled = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}

export interface MemoryTransportOptions {
  readonly bus: MemoryBus;
  readonly cluster: string;
  readonly nodeId: NodeId;
  readonly maxFrameBytes?: number;
  readonly decode?: DecodeOptions;
  readonly log?: Logger;
}

/** The Transport over a MemoryBus: for the single-process demo and tests. Never disconnects. */
export class MemoryTransport implements Transport {
  readonly cluster: string;
  readonly nodeId: NodeId;
  readonly maxFrameBytes: number;
  private readonly bus: MemoryBus;
  private readonly counters = emptyStats();
  private readonly inbox: PeerInbox;
  private readonly log: Logger;
  private readonly unsubscribes = new Set<Unsubscribe>();
  private readonly pending = new Set<(e: TransportError) => void>();
  private serving = false;
  private closed = false;

  constructor(o: MemoryTransportOptions) {
    this.bus = o.bus;
    this.cluster = checkToken("cluster", o.cluster);
    this.nodeId = checkToken("node id", o.nodeId);
    this.maxFrameBytes = o.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.log = o.log ?? consoleLogger;
    this.inbox = new PeerInbox(this.counters, this.log, {
      maxFrameBytes: this.maxFrameBytes,
      ...o.decode,
    });
    this.track(
      this.bus.subscribe(peerWildcard(this.cluster, this.nodeId), (subject, frame) =>
        this.inbox.deliver(subject, frame),
      ),
    );
  }

  send(toNode: NodeId, shard: number, frameOrMessages: Uint8Array | readonly Message[]): void {
    this.sendCounted({ toNode, shard, frameOrMessages });
  }

  sendAll(outbound: Iterable<Outbound>): Promise<void> {
    return sendAllYielding(outbound, (o) => this.sendCounted(o));
  }

  onFrame(handler: FrameHandler): Unsubscribe {
    return this.inbox.onFrame(handler);
  }

  onMessages(handler: MessagesHandler): Unsubscribe {
    return this.inbox.onMessages(handler);
  }

  request(toNode: NodeId, payload: Uint8Array, timeoutMs: number, o?: RequestOptions): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      if (this.closed) return reject(new TransportError("closed", "transport is closed"));
      let done = false;
      const finish = (e: TransportError | undefined, reply?: Uint8Array) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        this.pending.delete(finish);
        if (e) reject(e);
        else resolve(reply!);
      };
      const timer = setTimeout(
        () => finish(new TransportError("timeout", `request to ${toNode} timed out after ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.pending.add(finish);
      const node = checkToken("node id", toNode);
      const subject = o?.admin ? adminSubject(this.cluster, node) : rpcSubject(this.cluster, node);
      const matched = this.bus.publish(subject, payload, (reply) =>
        this.bus.enqueue(() => finish(undefined, reply)),
      );
      if (matched === 0)
        this.bus.enqueue(() =>
          finish(new TransportError("noResponders", `no node ${toNode} is serving requests`)),
        );
    });
  }

  serve(handler: RpcHandler): Unsubscribe {
    if (this.serving) throw new Error(`node ${this.nodeId} already serves requests`);
    this.serving = true;
    const adminRequests = adminSubject(this.cluster, this.nodeId);
    const serveOn = (subject: string) =>
      this.bus.subscribe(subject, (_subject, payload, reply) => {
        const via = { admin: subject === adminRequests };
        // A handler that throws or rejects sends no reply: the requester times out, as over NATS.
        // Replies obey the frame limit as over NATS (a too-large one becomes TOO_LARGE), so tests see the same.
        const answer = (p: Uint8Array) => {
          const fitted = fitReply(p, this.maxFrameBytes);
          if (fitted.replaced) this.counters.repliesTooLarge++;
          reply?.(fitted.reply);
        };
        const fail = (e: unknown) => {
          this.counters.handlerErrors++;
          this.log("error", "an RPC handler failed", e);
        };
        try {
          Promise.resolve(handler(payload, via)).then(answer, fail);
        } catch (e) {
          fail(e);
        }
      });
    const offRpc = this.track(serveOn(rpcSubject(this.cluster, this.nodeId)));
    const offAdmin = this.track(serveOn(adminRequests));
    const unsubscribe = () => {
      offRpc();
      offAdmin();
    };
    return () => {
      this.serving = false;
      unsubscribe();
    };
  }

  publish(topic: Topic, payload: Uint8Array): void {
    if (this.closed) {
      this.counters.sendErrors++;
      return;
    }
    this.bus.publish(topicSubject(this.cluster, checkTopic(topic, false)), payload);
  }

  subscribe(topic: Topic, handler: TopicHandler): Unsubscribe {
    const prefix = `palf.${this.cluster}.`;
    return this.track(
      this.bus.subscribe(topicSubject(this.cluster, checkTopic(topic, true)), (subject, payload) =>
        this.inbox.guard(() => handler(subject.slice(prefix.length), payload)),
      ),
    );
  }

  flush(): Promise<void> {
    return this.bus.settled();
  }

  onStatus(_handler: (status: TransportStatus) => void): Unsubscribe {
    return () => {};
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const u of [...this.unsubscribes]) u();
    for (const fail of [...this.pending]) fail(new TransportError("closed", "transport closed"));
  }

  /** Returns the bytes sent. */
  private sendCounted(o: Outbound): number {
    if (this.closed) {
      this.counters.sendErrors++;
      return 0;
    }
    const subject = peerSubject(this.cluster, checkToken("node id", o.toNode), o.shard, this.nodeId);
    let bytes = 0;
    for (const frame of framesOf(o.frameOrMessages, this.maxFrameBytes)) {
      if (this.bus.publish(subject, frame) === 0) this.counters.sendErrors++;
      this.counters.framesSent++;
      bytes += frame.length;
    }
    this.counters.bytesSent += bytes;
    return bytes;
  }

  private track(unsubscribe: Unsubscribe): Unsubscribe {
    const once = () => {
      if (this.unsubscribes.delete(once)) unsubscribe();
    };
    this.unsubscribes.add(once);
    return once;
  }
}
