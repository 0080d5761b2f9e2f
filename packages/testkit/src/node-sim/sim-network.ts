/**
 * A simulated network behind the Transport interface: peer frames and client RPCs travel as events of the
 * simulator's queue, with seeded delays (so reordering), drops, duplicates, slow messages and partitions
 * (one-way too). Peer frames are the real encoded bytes (encodeBatches on the way out, decodeFrame on the
 * way in), so a codec bug shows up as a rejected frame or a wrong message; RPC payloads are the real
 * rpc-protocol bytes. A paused process receives nothing until it resumes (its deliveries are held).
 */
import type { Message, Prng } from "@palf/core";
import {
  DEFAULT_MAX_FRAME_BYTES,
  decodeFrame,
  encodeBatches,
  type FrameHandler,
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
} from "@palf/transport";
import type { Proc, SimScheduler } from "./sim-scheduler.ts";

/** Network fault knobs; the chaos driver changes them during a run. */
export interface NetFaults {
  drop: number;
  duplicate: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** Chance that one delivery is slow: `slowMs` more at most (it overtakes nothing, everything overtakes it). */
  slow: number;
  slowMs: number;
  /** Directed node links that deliver nothing: "a>b". */
  readonly blocked: Set<string>;
  /** Directed links that are slow (congested): every delivery takes this many ms more, "a>b" -> ms. */
  readonly slowLinks: Map<string, number>;
  /** Like `blocked` and `slowLinks`, but owned by one scripted episode, which undoes them itself. */
  readonly episodeCut: Set<string>;
  readonly episodeLag: Map<string, number>;
}

/** What the simulator's serve hook noted about the node that answered an RPC, handed back with the reply. */
export type ServeTag = unknown;

export interface RpcAnswer {
  readonly reply: Uint8Array;
  readonly tag: ServeTag;
}

export class SimNetwork {
  readonly faults: NetFaults = {
    drop: 0,
    duplicate: 0,
    minDelayMs: 0.1,
    maxDelayMs: 3,
    slow: 0,
    slowMs: 1000,
    blocked: new Set(),
    slowLinks: new Map(),
    episodeCut: new Set(),
    episodeLag: new Map(),
  };
  /** Frames or messages the receiving codec refused: they were encoded here, so a codec (or node) bug. */
  readonly violations: string[] = [];
  readonly stats = { frames: 0, framesDropped: 0, duplicates: 0, messages: 0, rpcs: 0, rpcReplies: 0 };
  /** Called on the serving node right before its RPC handler runs (same instant): inspects it for the checks. */
  onServe: ((node: string, request: Uint8Array) => ServeTag) | undefined;
  private readonly endpoints = new Map<string, SimTransport>();
  private readonly subscriptions = new Set<{ owner: SimTransport; pattern: string; handler: TopicHandler }>();

  constructor(
    readonly cluster: string,
    private readonly sched: SimScheduler,
    private readonly rng: Prng,
  ) {}

  /** A new process life of `nodeId` joins the network (replacing any earlier one). */
  attach(nodeId: string, proc: Proc): SimTransport {
    const t = new SimTransport(this, nodeId, proc);
    this.endpoints.set(nodeId, t);
    return t;
  }

  detach(t: SimTransport): void {
    if (this.endpoints.get(t.nodeId) === t) this.endpoints.delete(t.nodeId);
    for (const s of this.subscriptions) if (s.owner === t) this.subscriptions.delete(s);
  }

  /** How many copies of one message leave `from` for `to` (0: lost), each with its own delay. */
  private copies(from: string, to: string): number[] {
    const f = this.faults;
    const link = `${from}>${to}`;
    if (f.blocked.has(link) || f.episodeCut.has(link) || this.rng.chance(f.drop)) return [];
    const n = this.rng.chance(f.duplicate) ? 2 : 1;
    if (n === 2) this.stats.duplicates++;
    const out: number[] = [];
    const congested = Math.max(f.slowLinks.get(link) ?? 0, f.episodeLag.get(link) ?? 0);
    for (let i = 0; i < n; i++) {
      let d = congested + f.minDelayMs + this.rng.next() * (f.maxDelayMs - f.minDelayMs);
      if (this.rng.chance(f.slow)) d += this.rng.next() * f.slowMs;
      out.push(d);
    }
    return out;
  }

  /** Runs `fn` on the current life of `to` as soon as it is not paused; nothing if it is down. */
  private atNode(to: string, fn: (dest: SimTransport) => void): void {
    const dest = this.endpoints.get(to);
    if (dest === undefined || dest.closed) return;
    if (dest.proc.pausedUntil > this.sched.now)
      this.sched.at(dest.proc.pausedUntil, () => fn(dest), dest.proc);
    else fn(dest);
  }

  frame(from: string, to: string, shard: number, frame: Uint8Array): void {
    this.stats.frames++;
    const delays = this.copies(from, to);
    if (delays.length === 0) this.stats.framesDropped++;
    for (const d of delays)
      this.sched.at(this.sched.now + d, () => this.atNode(to, (t) => t.receive(shard, frame, from)));
  }

  /**
   * One RPC from `from` (a node or a simulated client) to node `to`. Rejects with a TransportError on
   * timeout or when no process serves `to`; timers are events of `callerProc` (a client has none).
   */
  rpc(
    from: string,
    to: string,
    payload: Uint8Array,
    timeoutMs: number,
    callerProc?: Proc,
    /** Sent on the node's admin subject (create/delete group, base, leader transfer). */
    admin = false,
  ): Promise<RpcAnswer> {
    this.stats.rpcs++;
    return new Promise<RpcAnswer>((resolve, reject) => {
      let done = false;
      const finish = (err: TransportError | undefined, answer?: RpcAnswer) => {
        if (done) return;
        done = true;
        if (err) reject(err);
        else resolve(answer!);
      };
      this.sched.at(
        this.sched.now + timeoutMs,
        () => {
          if (!done)
            finish(new TransportError("timeout", `request to ${to} timed out after ${timeoutMs} ms`));
        },
        callerProc,
      );
      for (const d of this.copies(from, to)) {
        this.sched.at(this.sched.now + d, () => {
          const dest = this.endpoints.get(to);
          if (dest === undefined || dest.closed || dest.handler === undefined) {
            // As NATS answers at once when nobody subscribes to the subject.
            this.sched.at(
              this.sched.now + 0.2,
              () => finish(new TransportError("noResponders", `no node ${to} is serving requests`)),
              callerProc,
            );
            return;
          }
          this.atNode(to, (node) => {
            const handler = node.handler;
            if (handler === undefined) return;
            const tag = this.onServe?.(to, payload);
            let result: Uint8Array | Promise<Uint8Array>;
            try {
              result = handler(payload, { admin });
            } catch (e) {
              this.violations.push(`RPC handler of ${to} threw: ${(e as Error).message}`);
              return;
            }
            Promise.resolve(result).then(
              (reply) => {
                if (node.proc.dead) return;
                this.stats.rpcReplies++;
                for (const back of this.copies(to, from))
                  this.sched.at(this.sched.now + back, () => finish(undefined, { reply, tag }), callerProc);
              },
              (e: Error) => this.violations.push(`RPC handler of ${to} rejected: ${e.message}`),
            );
          });
        });
      }
    });
  }

  publish(from: SimTransport, topic: string, payload: Uint8Array): void {
    for (const s of this.subscriptions) {
      if (s.owner === from || !topicMatches(s.pattern, topic)) continue;
      for (const d of this.copies(from.nodeId, s.owner.nodeId)) {
        this.sched.at(
          this.sched.now + d,
          () => {
            if (this.subscriptions.has(s)) s.handler(topic, payload);
          },
          s.owner.proc,
        );
      }
    }
  }

  subscribe(owner: SimTransport, pattern: string, handler: TopicHandler): Unsubscribe {
    const s = { owner, pattern, handler };
    this.subscriptions.add(s);
    return () => this.subscriptions.delete(s);
  }
}

function topicMatches(pattern: string, topic: string): boolean {
  const p = pattern.split(".");
  const s = topic.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/** Sees the RPCs a transport sends and the answers it gets (the simulator's clients build their history so). */
export interface RpcObserver {
  /** A request leaves (every attempt of a retried call). */
  request?(to: string, payload: Uint8Array): void;
  /** An answer arrived, with what the serving node's hook noted; runs before the caller sees the reply. */
  answer?(to: string, payload: Uint8Array, reply: Uint8Array, tag: ServeTag): void;
}

/** One process life's Transport on the simulated network. */
export class SimTransport implements Transport {
  readonly cluster: string;
  readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES;
  handler: RpcHandler | undefined;
  closed = false;
  observer: RpcObserver | undefined;
  private readonly frameHandlers = new Set<FrameHandler>();
  private readonly messageHandlers = new Set<MessagesHandler>();
  private readonly counters: TransportStats = {
    framesSent: 0,
    bytesSent: 0,
    sendErrors: 0,
    framesReceived: 0,
    bytesReceived: 0,
    messagesReceived: 0,
    framesRejected: 0,
    messagesRejected: 0,
    messagesForged: 0,
    handlerErrors: 0,
    repliesTooLarge: 0,
  };

  constructor(
    private readonly net: SimNetwork,
    readonly nodeId: string,
    readonly proc: Proc,
  ) {
    this.cluster = net.cluster;
  }

  send(toNode: string, shard: number, frameOrMessages: Uint8Array | readonly Message[]): void {
    if (this.closed) {
      this.counters.sendErrors++;
      return;
    }
    const frames =
      frameOrMessages instanceof Uint8Array
        ? [frameOrMessages]
        : encodeBatches(frameOrMessages, this.maxFrameBytes);
    for (const f of frames) {
      this.counters.framesSent++;
      this.counters.bytesSent += f.length;
      this.net.frame(this.nodeId, toNode, shard, f);
    }
  }

  async sendAll(outbound: Iterable<Outbound>): Promise<void> {
    for (const o of outbound) this.send(o.toNode, o.shard, o.frameOrMessages);
  }

  onFrame(handler: FrameHandler): Unsubscribe {
    this.frameHandlers.add(handler);
    return () => this.frameHandlers.delete(handler);
  }

  onMessages(handler: MessagesHandler): Unsubscribe {
    this.messageHandlers.add(handler);
    return () => this.messageHandlers.delete(handler);
  }

  /** A frame arrives: decoded with the real codec; anything it refuses is a violation (we never corrupt). */
  receive(shard: number, frame: Uint8Array, from: string): void {
    if (this.closed) return;
    this.counters.framesReceived++;
    this.counters.bytesReceived += frame.length;
    for (const h of this.frameHandlers) h(shard, frame, from);
    if (this.messageHandlers.size === 0) return;
    const { messages, rejected } = decodeFrame(frame, { maxFrameBytes: this.maxFrameBytes });
    if (rejected.length > 0) {
      this.counters.framesRejected++;
      this.net.violations.push(`codec: ${this.nodeId} refused a frame it was sent: ${rejected[0]!.reason}`);
    }
    this.counters.messagesReceived += messages.length;
    this.net.stats.messages += messages.length;
    if (messages.length === 0) return;
    for (const h of this.messageHandlers) h(shard, messages);
  }

  request(toNode: string, payload: Uint8Array, timeoutMs: number, o?: RequestOptions): Promise<Uint8Array> {
    if (this.closed) return Promise.reject(new TransportError("closed", "transport is closed"));
    this.observer?.request?.(toNode, payload);
    return this.net.rpc(this.nodeId, toNode, payload, timeoutMs, this.proc, o?.admin === true).then((a) => {
      this.observer?.answer?.(toNode, payload, a.reply, a.tag);
      return a.reply;
    });
  }

  serve(handler: RpcHandler): Unsubscribe {
    if (this.handler) throw new Error(`node ${this.nodeId} already serves requests`);
    this.handler = handler;
    return () => {
      if (this.handler === handler) this.handler = undefined;
    };
  }

  publish(topic: string, payload: Uint8Array): void {
    if (!this.closed) this.net.publish(this, topic, payload);
  }

  subscribe(topic: string, handler: TopicHandler): Unsubscribe {
    return this.net.subscribe(this, topic, handler);
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  onStatus(_handler: (status: TransportStatus) => void): Unsubscribe {
    return () => {};
  }

  stats(): TransportStats {
    return { ...this.counters };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.net.detach(this);
  }
}
