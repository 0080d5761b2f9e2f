import type { Message } from "@palf/core";
import type { NodeId, Topic } from "./subjects.ts";

/**
 * What a node runtime uses to talk to its peers and clients, implemented over NATS (NatsTransport) and in
 * process (MemoryTransport). Delivery is at most once and asynchronous: a sent frame may be lost (no
 * receiver, disconnect, slow consumer), never duplicated or reordered on one link (sender to node).
 * Every peer message carries its pid, so a late or lost frame is harmless; the replicas retransmit.
 */
export interface Transport {
  readonly cluster: string;
  readonly nodeId: NodeId;
  /** Frames are cut below this; the NATS transport lowers it to the server's max_payload. */
  readonly maxFrameBytes: number;

  /**
   * Sends to `palf.<cluster>.node.<toNode>.<shard>`. Messages are encoded (and cut into several frames
   * if needed, liveness first); a frame from encodeBatches is sent as is and must not be changed after.
   * Never throws for network reasons (those are counted in stats().sendErrors); throws
   * FrameTooLargeError when one message cannot fit in a frame.
   */
  send(toNode: NodeId, shard: number, frameOrMessages: Uint8Array | readonly Message[]): void;
  /** send() for a whole loop turn's output, yielding to the event loop now and then so sockets drain. */
  sendAll(outbound: Iterable<Outbound>): Promise<void>;

  /** Raw peer frames for this node, e.g. to hand to the shard's worker thread, which decodes them. */
  onFrame(handler: FrameHandler): Unsubscribe;
  /** Decoded peer messages for this node; rejected input is counted, logged and dropped. */
  onMessages(handler: MessagesHandler): Unsubscribe;

  /**
   * Client RPC to `palf.<cluster>.rpc.<toNode>`, or with `admin` to `palf.<cluster>.admin.<toNode>` (which
   * NATS permissions may open to admin credentials only); rejects with TransportError (timeout,
   * noResponders, closed).
   */
  request(toNode: NodeId, payload: Uint8Array, timeoutMs: number, o?: RequestOptions): Promise<Uint8Array>;
  /**
   * Answers RPCs sent to this node on both its rpc and admin subjects (the handler is told which); one
   * handler per node. A handler that throws sends no reply.
   */
  serve(handler: RpcHandler): Unsubscribe;

  /** Publishes to `palf.<cluster>.<topic>` (`gts` or `events.<name>`). */
  publish(topic: Topic, payload: Uint8Array): void;
  /** Subscribes to a topic or a pattern (`events.*`, `events.>`); the handler gets the concrete topic. */
  subscribe(topic: Topic, handler: TopicHandler): Unsubscribe;

  /**
   * Resolves once everything sent and every subscription made so far has reached the server (NATS: one
   * ping round trip) or, in memory, has been delivered. Until then a new subscription may miss messages.
   */
  flush(): Promise<void>;
  /** Connection changes: after a reconnect or slow consumer a node resyncs (its replicas retransmit). */
  onStatus(handler: (status: TransportStatus) => void): Unsubscribe;
  stats(): TransportStats;
  close(): Promise<void>;
}

export interface Outbound {
  readonly toNode: NodeId;
  readonly shard: number;
  readonly frameOrMessages: Uint8Array | readonly Message[];
}

export type Unsubscribe = () => void;
/** A raw frame and the sender its subject names; a raw handler must check messages' `from` against it. */
export type FrameHandler = (shard: number, frame: Uint8Array, from: NodeId) => void;
/** Decoded messages, each already checked to come from the node its `from` names. */
export type MessagesHandler = (shard: number, messages: Message[]) => void;
export interface RequestOptions {
  /** Send on the admin subject (create/delete group, membership, base, leader transfer). */
  readonly admin?: boolean;
}
/** How a request arrived: `admin` when on the node's admin subject. */
export interface RpcVia {
  readonly admin: boolean;
}
export type RpcHandler = (request: Uint8Array, via: RpcVia) => Uint8Array | Promise<Uint8Array>;
export type TopicHandler = (topic: string, payload: Uint8Array) => void;

export type TransportStatus =
  | { readonly type: "disconnect" }
  | { readonly type: "reconnect" }
  | { readonly type: "slowConsumer"; readonly pending: number }
  | { readonly type: "error"; readonly error: Error };

export interface TransportStats {
  framesSent: number;
  bytesSent: number;
  /** Sends that failed locally (closed connection, no such node in memory). */
  sendErrors: number;
  framesReceived: number;
  bytesReceived: number;
  messagesReceived: number;
  /** Frames dropped as a whole (bad version, truncated, bad structure, bad subject). */
  framesRejected: number;
  /** Single messages dropped from otherwise good frames (bad field types or ranges). */
  messagesRejected: number;
  /** Messages dropped because their `from` is not the sender named by the frame's subject. */
  messagesForged: number;
  /** Handlers that threw; the error went to the logger and delivery went on. */
  handlerErrors: number;
  /** RPC replies above the frame limit, answered with TOO_LARGE instead. */
  repliesTooLarge: number;
}

/** Where a transport writes its log lines (rejected input, handler errors, connection changes). */
export type Logger = (level: "info" | "warn" | "error", message: string, detail?: unknown) => void;

export function emptyStats(): TransportStats {
  return {
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
}

/** Default logger: one console line per call. */
export const consoleLogger: Logger = (level, message, detail) => {
  const line = `[palf-transport] ${message}`;
  if (level === "error") console.error(line, detail ?? "");
  else if (level === "warn") console.warn(line, detail ?? "");
  else console.info(line);
};

export type TransportErrorCode = "timeout" | "noResponders" | "closed" | "failed";

/** Why an RPC failed. */
export class TransportError extends Error {
  constructor(
    readonly code: TransportErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "TransportError";
  }
}
