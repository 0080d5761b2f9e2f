import { type DecodeOptions, decodeFrame } from "./peer-codec.ts";
import { fromSender, peerSubjectParts } from "./peer-identity.ts";
import { isShard } from "./subjects.ts";
import type { FrameHandler, Logger, MessagesHandler, TransportStats, Unsubscribe } from "./transport.ts";

/**
 * The receiving half shared by both transports: counts a frame, hands it to raw-frame handlers, decodes it
 * once for message handlers, and drops bad input with a counter and a (rate-limited) log line. A handler
 * that throws is logged and counted; it never stops delivery to the others or crashes the connection.
 */
export class PeerInbox {
  private readonly frameHandlers = new Set<FrameHandler>();
  private readonly messageHandlers = new Set<MessagesHandler>();
  private readonly rejectLog: RateLimited;

  constructor(
    private readonly stats: TransportStats,
    private readonly log: Logger,
    private readonly decode: DecodeOptions,
  ) {
    this.rejectLog = new RateLimited(log, 1000);
  }

  onFrame(h: FrameHandler): Unsubscribe {
    this.frameHandlers.add(h);
    return () => this.frameHandlers.delete(h);
  }

  onMessages(h: MessagesHandler): Unsubscribe {
    this.messageHandlers.add(h);
    return () => this.messageHandlers.delete(h);
  }

  /**
   * One frame from the network, from the peer subject `subject`; a subject that names no valid shard and
   * sender drops the frame. Messages whose `from` is not the subject's sender are dropped and counted.
   */
  deliver(subject: string, frame: Uint8Array): void {
    this.stats.framesReceived++;
    this.stats.bytesReceived += frame.length;
    const parts = peerSubjectParts(subject);
    if (parts === undefined || !isShard(parts.shard)) {
      this.stats.framesRejected++;
      this.rejectLog.warn("dropped a peer frame on a subject without a valid shard and sender");
      return;
    }
    const { shard, from } = parts;
    for (const h of this.frameHandlers) this.guard(() => h(shard, frame, from));
    if (this.messageHandlers.size === 0) return;
    const { messages, rejected } = decodeFrame(frame, this.decode);
    if (rejected.length > 0) {
      if (rejected.length === 1 && rejected[0]!.index === undefined) this.stats.framesRejected++;
      else this.stats.messagesRejected += rejected.length;
      this.rejectLog.warn(`dropped bad peer input for shard ${shard}: ${rejected[0]!.reason}`, rejected);
    }
    const { kept, forged } = fromSender(messages, from);
    if (forged > 0) {
      this.stats.messagesForged += forged;
      this.rejectLog.warn(`dropped ${forged} peer messages sent by ${from} in another node's name`);
    }
    this.stats.messagesReceived += kept.length;
    if (kept.length === 0) return;
    for (const h of this.messageHandlers) this.guard(() => h(shard, kept));
  }

  /** Runs a user handler; errors are logged and counted, never thrown into the network layer. */
  guard(run: () => void): void {
    try {
      run();
    } catch (e) {
      this.stats.handlerErrors++;
      this.log("error", "a transport handler threw", e);
    }
  }
}

/** At most one line per `intervalMs`, with a count of the lines it held back. Garbage floods stay quiet. */
class RateLimited {
  private last = Number.NEGATIVE_INFINITY;
  private suppressed = 0;

  constructor(
    private readonly log: Logger,
    private readonly intervalMs: number,
  ) {}

  warn(message: string, detail?: unknown): void {
    const now = performance.now();
    if (now - this.last < this.intervalMs) {
      this.suppressed++;
      return;
    }
    const held = this.suppressed > 0 ? ` (${this.suppressed} more since the last line)` : "";
    this.last = now;
    this.suppressed = 0;
    this.log("warn", message + held, detail);
  }
}
