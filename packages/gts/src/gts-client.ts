import {
  decodeResponse,
  delay,
  encodeRpc,
  MAX_GTS_COUNT,
  type Runtime,
  realRuntime,
  type Transport,
  TransportError,
} from "@palf/transport";

export interface GtsClientOptions {
  /** Nodes that may lead the GTS group; tried in turn until one answers (hints are followed first). */
  readonly nodes: readonly string[] | (() => readonly string[]);
  readonly requestTimeoutMs?: number;
  /** Give up on one timestamp after this long (default 10 s). */
  readonly deadlineMs?: number;
  /** Clock and timers (default: the real ones; the simulator passes its virtual ones). */
  readonly runtime?: Runtime;
}

interface Caller {
  readonly resolve: (ts: number) => void;
  readonly reject: (err: Error) => void;
  readonly deadline: number;
}

/**
 * Timestamps from GTS with one request in flight per client: callers that ask while a request is out wait
 * for the next one, and each reply is a range shared among the callers queued before its request left.
 * A caller never gets a value from a request sent before it asked, so its timestamp is above every
 * timestamp (and so every commit-waited CSN) that existed when it asked.
 */
export class GtsClient {
  private queue: Caller[] = [];
  private inFlight = false;
  private leader: string | undefined;
  private next = 0;
  private closed = false;
  readonly stats = { requests: 0, timestamps: 0, retries: 0 };
  private readonly rt: Runtime;

  constructor(
    private readonly transport: Transport,
    private readonly opts: GtsClientOptions,
  ) {
    this.rt = opts.runtime ?? realRuntime;
    if (typeof opts.nodes !== "function" && opts.nodes.length === 0)
      throw new Error("GtsClient needs at least one node");
  }

  /** One timestamp (integer microseconds), strictly above every timestamp GTS gave before this call. */
  timestamp(): Promise<number> {
    if (this.closed) return Promise.reject(new Error("GTS client closed"));
    return new Promise((resolve, reject) => {
      this.queue.push({ resolve, reject, deadline: this.rt.now() + (this.opts.deadlineMs ?? 10_000) });
      if (!this.inFlight) void this.pump();
    });
  }

  /** Commit wait: resolves once GTS has moved past `csn` (a later snapshot read at a GTS value sees it). */
  async waitAbove(csn: number): Promise<number> {
    for (;;) {
      const ts = await this.timestamp();
      if (ts > csn) return ts;
      await delay(this.rt, Math.min(100, Math.max(1, Math.ceil((csn - ts) / 1000))));
    }
  }

  close(): void {
    this.closed = true;
    for (const c of this.queue.splice(0)) c.reject(new Error("GTS client closed"));
  }

  private async pump(): Promise<void> {
    this.inFlight = true;
    while (this.queue.length > 0 && !this.closed) {
      const batch = this.queue.splice(0, MAX_GTS_COUNT);
      const start = await this.fetch(batch.length, batch);
      if (start === undefined) continue;
      this.stats.timestamps += batch.length;
      for (let i = 0; i < batch.length; i++) batch[i]!.resolve(start + i);
    }
    this.inFlight = false;
  }

  /** Asks until some node answers, following NOT_LEADER hints; undefined once every caller timed out. */
  private async fetch(count: number, batch: Caller[]): Promise<number | undefined> {
    for (let attempt = 0; ; attempt++) {
      const nodes = typeof this.opts.nodes === "function" ? this.opts.nodes() : this.opts.nodes;
      const now = this.rt.now();
      const late = batch.filter((c) => c.deadline <= now);
      if (late.length > 0) {
        for (const c of late)
          c.reject(new Error("no GTS timestamp in time: is the GTS group (group 0) led?"));
        const live = batch.filter((c) => c.deadline > now);
        batch.splice(0, batch.length, ...live);
        if (live.length === 0) return undefined;
        count = live.length;
      }
      const to = this.leader ?? nodes[this.next++ % nodes.length]!;
      this.stats.requests++;
      if (attempt > 0) this.stats.retries++;
      try {
        const bytes = await this.transport.request(
          to,
          encodeRpc({ op: "gts", count }),
          this.opts.requestTimeoutMs ?? 2000,
        );
        const res = decodeResponse(bytes);
        if (res.ok && res.op === "gts" && res.count === count) {
          this.leader = to;
          return res.start;
        }
        const hint = !res.ok ? res.error.leader : undefined;
        this.leader = hint !== undefined && hint !== to ? hint : undefined;
      } catch (err) {
        if (!(err instanceof TransportError)) throw err;
        this.leader = undefined;
      }
      // Every node said no in a row: give elections a moment.
      if (this.leader === undefined && attempt % nodes.length === nodes.length - 1) await delay(this.rt, 20);
    }
  }
}
