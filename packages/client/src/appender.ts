import { type AppendItem, MAX_REF_CSN, type TimerHandle } from "@palf/transport";
import { AppendBatcher, type BatchItem } from "./append-batcher.ts";
import { fromRpcError, PalfError } from "./palf-error.ts";
import type { Requester } from "./requester.ts";
import { type BackoffOptions, backoffMs, decide } from "./retry-policy.ts";
import type { ClientSession } from "./session.ts";

/** One append's answer to its caller once committed: its place in the group's log and its commit sequence number. */
export interface CommittedAppend {
  readonly lsn: number;
  readonly csn: number;
}

export interface AppenderOptions {
  readonly requester: Requester;
  readonly session: ClientSession;
  readonly appendTimeoutMs: number;
  readonly maxInFlight: number;
  readonly maxInFlightPerGroup?: number | undefined;
  readonly maxBatchItems: number;
  readonly maxBatchBytes: number;
  /** Appends larger than this are refused at once with TOO_LARGE (they could never be sent). */
  readonly maxPayloadBytes: number;
  /** Bytes waiting to be sent; beyond it appends are refused with BACKPRESSURE. */
  readonly maxQueuedBytes: number;
  readonly backoff: BackoffOptions;
}

/** Framing estimate per item (session, refCsn, msgpack headers). */
const ITEM_OVERHEAD = 64;

interface Pending extends BatchItem {
  readonly payload: Uint8Array;
  readonly refCsn: number | undefined;
  readonly seq: number;
  readonly started: number;
  readonly resolve: (r: CommittedAppend) => void;
  readonly reject: (e: PalfError) => void;
  attempts: number;
  /** Some attempt may have reached a leader: giving up now means INDETERMINATE, not "not appended". */
  maybeApplied: boolean;
  lastError: PalfError | undefined;
  unknownAt: Set<string> | undefined;
}

/**
 * Appends with batching, routing and idempotent retries. Each append gets its seq once; every retry
 * (after NOT_LEADER, a timeout, a lost connection...) resends the same (session, seq), possibly in a
 * different batch. An append ends exactly once: committed (`{lsn, csn}`), or a PalfError.
 */
export class Appender {
  private readonly batcher: AppendBatcher<Pending>;
  private readonly waiting = new Set<{ timer: TimerHandle; items: Pending[] }>();
  private closed = false;

  constructor(private readonly o: AppenderOptions) {
    this.batcher = new AppendBatcher<Pending>({
      runtime: o.requester.runtime,
      maxInFlight: o.maxInFlight,
      ...(o.maxInFlightPerGroup === undefined ? {} : { maxInFlightPerGroup: o.maxInFlightPerGroup }),
      maxBatchItems: o.maxBatchItems,
      maxBatchBytes: o.maxBatchBytes,
      send: (group, batch) => this.sendBatch(group, batch),
      expired: (item) => this.giveUp(item, undefined),
    });
  }

  /** Requests in flight now (for tests and stats). */
  get inFlight(): number {
    return this.batcher.inFlightCount;
  }

  /** Queues one append into its group's next batch; resolves once committed. */
  enqueue(group: number, payload: Uint8Array, refCsn: number | undefined): Promise<CommittedAppend> {
    if (this.closed) return Promise.reject(new PalfError("CLOSED", "the client is closed", { group }));
    if (refCsn !== undefined && !(Number.isSafeInteger(refCsn) && refCsn >= 0 && refCsn <= MAX_REF_CSN))
      return Promise.reject(
        new PalfError("BAD_REQUEST", `refCsn ${refCsn} is not a natural number up to 2^52 - 2^32`, { group }),
      );
    if (payload.length > this.o.maxPayloadBytes)
      return Promise.reject(
        new PalfError(
          "TOO_LARGE",
          `append of ${payload.length} bytes to group ${group} is above the limit of ${this.o.maxPayloadBytes} bytes`,
          { group },
        ),
      );
    const size = payload.length + ITEM_OVERHEAD;
    if (this.batcher.queued.bytes + size > this.o.maxQueuedBytes)
      return Promise.reject(
        new PalfError(
          "BACKPRESSURE",
          `too much waiting to be sent (${this.batcher.queued.bytes} bytes queued); slow down`,
          { group },
        ),
      );
    return new Promise<CommittedAppend>((resolve, reject) => {
      const now = this.o.requester.runtime.now();
      this.batcher.enqueue({
        group,
        size,
        deadline: now + this.o.appendTimeoutMs,
        payload,
        refCsn,
        seq: this.o.session.nextSeq(),
        started: now,
        resolve,
        reject,
        attempts: 0,
        maybeApplied: false,
        lastError: undefined,
        unknownAt: undefined,
      });
    });
  }

  /** Fails what waits (queued or backing off) and resolves once no request is in flight. */
  async close(): Promise<void> {
    if (this.closed) return this.batcher.idle();
    this.closed = true;
    const closedError = new PalfError("CLOSED", "the client was closed before the append finished");
    for (const item of this.batcher.close()) this.giveUp(item, closedError);
    for (const w of this.waiting) {
      this.o.requester.runtime.clearTimeout(w.timer);
      for (const item of w.items) this.giveUp(item, closedError);
    }
    this.waiting.clear();
    await this.batcher.idle();
  }

  private async sendBatch(group: number, batch: Pending[]): Promise<void> {
    const { requester, session } = this.o;
    const node = requester.cache.target(group);
    const items: AppendItem[] = batch.map((p) => ({
      payload: p.payload,
      session: { id: session.id, seq: p.seq },
      ...(p.refCsn === undefined ? {} : { refCsn: p.refCsn }),
      // An earlier attempt may have been applied: the leader must not append it again unless it can tell.
      ...(p.maybeApplied ? { retry: true } : {}),
    }));
    let latest = 0;
    for (const p of batch) {
      p.attempts++;
      latest = Math.max(latest, p.deadline);
    }
    const timeout = Math.min(requester.requestTimeoutMs, Math.max(1, latest - requester.runtime.now()));
    const a = await requester.send(node, { op: "append", group, items }, timeout, group);
    const retry: Pending[] = [];
    let redirected = false;
    if (!a.ok) {
      requester.learn(group, node, a.error, a.answered);
      redirected = isFreshRedirect(a.error, node);
      for (const p of batch) if (this.failed(p, a.error, a.answered, node)) retry.push(p);
    } else {
      const results = a.response.op === "append" ? a.response.results : [];
      if (results.length !== batch.length) {
        // A malformed answer: whatever happened is unknown, so treat it as no answer at all.
        const e = new PalfError(
          "INTERNAL",
          `node ${node} answered ${results.length} results for ${batch.length} appends`,
          { group, node },
        );
        for (const p of batch) if (this.failed(p, e, false, node)) retry.push(p);
      } else {
        let learnt = false;
        for (const [i, p] of batch.entries()) {
          const r = results[i]!;
          if ("lsn" in r) {
            p.resolve({ lsn: r.lsn, csn: r.csn });
            continue;
          }
          const e = fromRpcError(r.error, node, group);
          if (!learnt) {
            // One item's NOT_LEADER (or the like) says the same for the whole batch's group.
            requester.learn(group, node, e, true);
            redirected ||= isFreshRedirect(e, node);
            learnt = e.code === "NOT_LEADER" || e.code === "STOPPING" || e.code === "HALTED";
          }
          if (this.failed(p, e, true, node)) retry.push(p);
        }
      }
    }
    if (retry.length > 0) this.retryLater(group, retry, redirected);
  }

  /** Records a failed attempt; returns true when the item should be tried again. */
  private failed(p: Pending, e: PalfError, answered: boolean, node: string): boolean {
    const { requester } = this.o;
    const d = decide(e, answered);
    p.maybeApplied ||= d.maybeApplied;
    p.lastError = e;
    if (e.code === "UNKNOWN_GROUP") {
      p.unknownAt ??= new Set();
      p.unknownAt.add(node);
      if (requester.cache.seedNodes().every((n) => p.unknownAt!.has(n))) {
        // An earlier attempt may have committed before the group went away: then the outcome is unknown.
        this.giveUp(p, p.maybeApplied ? undefined : e);
        return false;
      }
    }
    if (!d.retry) {
      this.giveUp(p, e);
      return false;
    }
    if (this.closed) {
      this.giveUp(p, new PalfError("CLOSED", "the client was closed before the append finished"));
      return false;
    }
    if (p.attempts >= requester.maxAttempts || requester.runtime.now() >= p.deadline) {
      this.giveUp(p, undefined);
      return false;
    }
    return true;
  }

  private retryLater(group: number, items: Pending[], redirected: boolean): void {
    // A fresh leader hint is followed at once; everything else backs off by the items' attempt count.
    const rt = this.o.requester.runtime;
    const attempts = Math.max(...items.map((p) => p.attempts));
    const delay = redirected && attempts <= 2 ? 0 : backoffMs(rt, attempts, this.o.backoff);
    // The retry keeps an in-flight slot of its group while it waits, so that with maxInFlightPerGroup 1
    // no later seq of the group overtakes it. One that may have been applied fences its group: a leader
    // recognises it only among the session's recent seqs, which later appends would push it out of.
    const fenced = items.some((p) => p.maybeApplied);
    if (fenced) this.batcher.fence(group);
    else this.batcher.hold(group);
    const w = {
      items,
      timer: rt.setTimeout(() => {
        this.waiting.delete(w);
        if (this.closed) return;
        this.batcher.requeue(items);
        if (fenced) this.batcher.unfence(group);
        else this.batcher.release(group);
      }, delay),
    };
    this.waiting.add(w);
  }

  /**
   * Ends an append with an error. `final` is an answer that settles it (FAILED, TOO_LARGE...); without one
   * the client ran out of time or attempts, and what it reports depends on whether any attempt may have
   * reached a leader: INDETERMINATE if so, else the last error (NOT_LEADER, UNAVAILABLE...) or TIMEOUT.
   */
  private giveUp(p: Pending, final: PalfError | undefined): void {
    const now = this.o.requester.runtime.now();
    const elapsed = Math.round(now - p.started);
    const tries = `${p.attempts} attempt${p.attempts === 1 ? "" : "s"}`;
    const last = p.lastError === undefined ? "" : `; last error: ${p.lastError.message}`;
    const details = { group: p.group, attempts: p.attempts, cause: final ?? p.lastError };
    if (final !== undefined && final.code !== "CLOSED") {
      p.reject(withDetails(final, p));
    } else if (p.maybeApplied) {
      p.reject(
        new PalfError(
          "INDETERMINATE",
          `append to group ${p.group}: outcome unknown after ${tries} in ${elapsed} ms; it may or may not be committed${last}`,
          details,
        ),
      );
    } else if (final !== undefined) {
      p.reject(withDetails(final, p));
    } else if (now >= p.deadline || p.lastError === undefined) {
      p.reject(
        new PalfError(
          "TIMEOUT",
          `append to group ${p.group} timed out after ${elapsed} ms (${tries}); it was not appended${last}`,
          details,
        ),
      );
    } else {
      p.reject(withDetails(p.lastError, p));
    }
  }
}

function isFreshRedirect(e: PalfError, node: string): boolean {
  return e.code === "NOT_LEADER" && e.leader !== undefined && e.leader !== node;
}

function withDetails(e: PalfError, p: Pending): PalfError {
  return new PalfError(e.code, e.message, {
    group: p.group,
    attempts: p.attempts,
    cause: e.cause,
    ...(e.node === undefined ? {} : { node: e.node }),
    ...(e.leader === undefined ? {} : { leader: e.leader }),
  });
}
