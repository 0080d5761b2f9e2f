import type { KvCluster } from "./kv-cluster.ts";
import { KvError } from "./kv-error.ts";
import { encodeRecord } from "./kv-record.ts";
import { delay, type KvRuntime, type KvTimer } from "./kv-runtime.ts";
import { kvUnsafeOn } from "./kv-unsafe.ts";
import { type ApplyOutcome, type PartitionEntry, PartitionState } from "./partition-state.ts";

/**
 * How a replica learns that it has seen every entry with CSN <= s (the read fence):
 *   watermark: wait for the group leader's watermark w >= s (free, but up to one watermark round, ~50 ms);
 *   leader:    ask the group's leader for a watermark w >= s (KvCluster.fence: it starts a round at once;
 *              one request in flight per partition, shared by every read waiting), the stream as well;
 *   append:    append an empty fence record with refCsn = s (one append, shared by every read waiting);
 *   both:      append and watermark, whichever comes first.
 */
export type ReadFence = "watermark" | "leader" | "append" | "both";

/** Every read fence kind (for flags and their checks). */
export const readFenceKinds: readonly ReadFence[] = ["watermark", "leader", "append", "both"];

export interface ReplicaOptions {
  readonly readFence?: ReadFence;
  /** A read or wait gives up (UNAVAILABLE) after this long. Default 10 s. */
  readonly waitTimeoutMs?: number;
  /** Pause before reading again when the log has nothing new yet. Default 5 ms. */
  readonly retryMs?: number;
  readonly stateOptions?: { readonly maxTxnAgeUs?: number; readonly pruneEvery?: number };
}

interface Waiter {
  /** Wait until every entry below this LSN is applied. */
  readonly lsn: number;
  /** ...and until a trusted watermark covers this CSN (-1: no CSN condition). */
  readonly csn: number;
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
  timer: KvTimer | undefined;
}

/**
 * One partition replayed from its PALF group: reads the committed log on demand (an LSN someone waits for,
 * a watermark that names an LSN ahead), applies it to a PartitionState in log order and tells listeners
 * each outcome. Holds the read fence: `fence(s)` resolves only once no entry with CSN <= s can still come.
 */
export class PartitionReplica {
  state: PartitionState;
  /** Next LSN to read from the group. */
  readFrom: number;
  /** Highest trusted watermark: no entry with CSN <= w is still to come. */
  w = -1;
  private pending: Array<{ w: number; lsn: number }> = [];
  private target = 0;
  private toEnd = false;
  private reading = false;
  private closed = false;
  private waiters: Waiter[] = [];
  private fenceInFlight = false;
  private fenceWanted = -1;
  private readonly listeners: Array<(o: ApplyOutcome, e: PartitionEntry) => void> = [];
  readonly stats = { pages: 0, entries: 0, fences: 0, readErrors: 0 };

  constructor(
    readonly partition: number,
    readonly group: number,
    private readonly cluster: KvCluster,
    private readonly rt: KvRuntime,
    private readonly opts: ReplicaOptions = {},
    from?: { readonly state: PartitionState; readonly readFrom: number },
  ) {
    this.state = from?.state ?? new PartitionState(partition, opts.stateOptions ?? {});
    this.readFrom = from?.readFrom ?? 0;
  }

  /** Called with every outcome, in log order. */
  onApply(fn: (o: ApplyOutcome, e: PartitionEntry) => void): void {
    this.listeners.push(fn);
  }

  /** A watermark vouch from the group's leader (see KvCluster.onWatermark). */
  vouch(w: number, lsn: number): void {
    if (w <= this.w) return;
    if (lsn <= this.readFrom) this.w = w;
    else {
      this.pending.push({ w, lsn });
      this.pending.sort((a, b) => a.lsn - b.lsn);
      this.want(lsn);
    }
    this.settle();
  }

  /** Resolves once every entry below `lsn` is applied. */
  caughtUp(lsn: number): Promise<void> {
    return this.wait(lsn, -1);
  }

  /** Resolves once every entry with CSN <= `csn` that this partition will ever have is applied. */
  fence(csn: number): Promise<void> {
    if (kvUnsafeOn("skipReadFence")) return Promise.resolve();
    const p = this.wait(0, csn);
    const mode = this.opts.readFence ?? "watermark";
    if (this.w < csn && mode !== "watermark") {
      if (csn > this.fenceWanted) this.fenceWanted = csn;
      if (mode === "leader") this.askLeader();
      else this.appendFence();
    }
    return p;
  }

  /** Reads on to the group's committed end now (e.g. to look for a decision). */
  refresh(): void {
    this.toEnd = true;
    this.pump();
  }

  close(): void {
    this.closed = true;
    for (const wt of this.waiters.splice(0)) {
      this.rt.clearTimeout(wt.timer);
      wt.reject(new KvError("CLOSED", `partition ${this.partition}: closed`));
    }
  }

  private wait(lsn: number, csn: number): Promise<void> {
    if (this.closed) return Promise.reject(new KvError("CLOSED", `partition ${this.partition}: closed`));
    if (this.readFrom >= lsn && this.w >= csn) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const wt: Waiter = { lsn, csn, resolve, reject, timer: undefined };
      const ms = this.opts.waitTimeoutMs ?? 10_000;
      wt.timer = this.rt.setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== wt);
        // Stop reading toward an LSN nobody waits for any more (one past the log's end would poll forever).
        this.target = Math.max(
          this.readFrom,
          ...this.waiters.map((x) => x.lsn),
          ...this.pending.map((x) => x.lsn),
        );
        reject(
          new KvError(
            "UNAVAILABLE",
            `partition ${this.partition} (group ${this.group}) did not reach lsn ${lsn} / watermark ${csn} within ${ms} ms (at lsn ${this.readFrom}, watermark ${this.w})`,
            { partition: this.partition },
          ),
        );
      }, ms);
      this.waiters.push(wt);
      this.want(lsn);
    });
  }

  private want(lsn: number): void {
    if (lsn > this.target) this.target = lsn;
    this.pump();
  }

  private appendFence(): void {
    if (this.fenceInFlight || this.closed) return;
    this.fenceInFlight = true;
    const s = this.fenceWanted;
    this.stats.fences++;
    this.cluster.append(this.group, encodeRecord({ type: "fence" }), s).then(
      (r) => {
        this.fenceInFlight = false;
        // Every later entry has CSN > r.csn >= s; the fence itself is below r.lsn + 1.
        this.vouch(r.csn, r.lsn + 1);
        // Reads that asked for a higher snapshot meanwhile need one more fence.
        if (this.fenceWanted > r.csn) this.appendFence();
      },
      () => {
        this.fenceInFlight = false;
        // A fence that failed (or whose result is unknown) tells nothing: try again while reads still wait.
        if (this.fenceWanted > this.w && !this.closed) void delay(this.rt, 50).then(() => this.appendFence());
      },
    );
  }

  /**
   * Asks the group's leader for a watermark at the highest snapshot waiting. Its answer is a vouch like the
   * stream's, trusted the same way (once the log is applied below its LSN); a failed ask tells nothing and
   * is repeated while reads still wait (the stream may answer first).
   */
  private askLeader(): void {
    const fence = this.cluster.fence;
    if (fence === undefined || this.fenceInFlight || this.closed) return;
    this.fenceInFlight = true;
    const s = this.fenceWanted;
    this.stats.fences++;
    fence.call(this.cluster, this.group, s).then(
      (v) => {
        this.fenceInFlight = false;
        this.vouch(v.w, v.lsn);
        if (this.fenceWanted > Math.max(v.w, this.w)) this.askLeader();
      },
      () => {
        this.fenceInFlight = false;
        if (this.fenceWanted > this.w && !this.closed) void delay(this.rt, 50).then(() => this.askLeader());
      },
    );
  }

  private pump(): void {
    if (this.reading || this.closed) return;
    if (this.readFrom >= this.target && !this.toEnd) return;
    this.reading = true;
    void this.readLoop().finally(() => {
      this.reading = false;
    });
  }

  private async readLoop(): Promise<void> {
    while (!this.closed && (this.readFrom < this.target || this.toEnd)) {
      let page: Awaited<ReturnType<KvCluster["read"]>>;
      try {
        page = await this.cluster.read(this.group, this.readFrom);
      } catch {
        this.stats.readErrors++;
        await delay(this.rt, 100);
        continue;
      }
      this.stats.pages++;
      if (this.closed) return;
      for (const e of page.entries) {
        if (e.lsn < this.readFrom) continue;
        const o = this.state.apply(e);
        this.stats.entries++;
        if (o) for (const fn of this.listeners) fn(o, e);
      }
      if (page.next > this.readFrom) this.readFrom = page.next;
      this.settle();
      if (page.next >= page.committedEnd) {
        this.toEnd = false;
        // Caught up with what is committed; what we wait for is not committed (or not visible here) yet.
        if (this.readFrom < this.target) await delay(this.rt, this.opts.retryMs ?? 5);
      }
    }
  }

  /** Trusts watermarks the read position now covers and wakes waiters that are satisfied. */
  private settle(): void {
    while (this.pending.length > 0 && this.pending[0]!.lsn <= this.readFrom) {
      const p = this.pending.shift()!;
      if (p.w > this.w) this.w = p.w;
    }
    if (this.waiters.length === 0) return;
    const still: Waiter[] = [];
    for (const wt of this.waiters) {
      if (this.readFrom >= wt.lsn && this.w >= wt.csn) {
        this.rt.clearTimeout(wt.timer);
        wt.resolve();
      } else still.push(wt);
    }
    this.waiters = still;
  }
}
