import {
  decodeResponse,
  encodeRpc,
  isAdminOp,
  type RpcRequest,
  type RpcResponse,
  type Runtime,
  type Transport,
} from "@palf/transport";
import type { LeaderCache } from "./leader-cache.ts";
import { fromRpcError, fromTransportError, PalfError } from "./palf-error.ts";
import {
  abortedError,
  type BackoffOptions,
  backoffMs,
  decide,
  type RetryDecision,
  sleep,
} from "./retry-policy.ts";

/** A successful RPC response. */
export type OkResponse = Extract<RpcResponse, { ok: true }>;

/** One request's outcome: the node's answer, or why there was none usable. */
export type Attempt =
  | { readonly ok: true; readonly node: string; readonly response: OkResponse }
  | { readonly ok: false; readonly node: string; readonly error: PalfError; readonly answered: boolean };

export interface RequesterOptions {
  readonly transport: Transport;
  readonly runtime: Runtime;
  readonly cache: LeaderCache;
  /** Upper bound of one RPC round trip (ms). */
  readonly requestTimeoutMs: number;
  /** Upper bound of requests per call, first try included. */
  readonly maxAttempts: number;
  readonly backoff: BackoffOptions;
}

export interface CallOptions {
  /** Overall time for the call, retries included (ms). */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal | undefined;
  /** What the call does, for error messages ("read of group 7"). */
  readonly what: string;
}

/**
 * Sends RPCs and routes them: `toGroup` finds a group's leader (leader cache, NOT_LEADER hints, the seed
 * list) and retries what the retry policy allows until the call's deadline; `toNode` retries transient
 * failures against one node. Appends use `send` and `learn` directly, since their batches retry per item.
 */
export class Requester {
  private closed = false;

  constructor(private readonly o: RequesterOptions) {}

  get requestTimeoutMs(): number {
    return this.o.requestTimeoutMs;
  }

  get maxAttempts(): number {
    return this.o.maxAttempts;
  }

  get runtime(): Runtime {
    return this.o.runtime;
  }

  get cache(): LeaderCache {
    return this.o.cache;
  }

  /** Stops retries: calls in their retry loop fail with CLOSED at their next step. */
  close(): void {
    this.closed = true;
  }

  isClosed(): boolean {
    return this.closed;
  }

  /** One RPC to one node. Never throws: failures come back as an Attempt. */
  async send(
    node: string,
    request: RpcRequest,
    timeoutMs: number,
    group?: number,
    signal?: AbortSignal,
  ): Promise<Attempt> {
    if (signal?.aborted) return { ok: false, node, error: abortedError(signal), answered: false };
    let bytes: Uint8Array;
    try {
      const pending = this.o.transport.request(node, encodeRpc(request), Math.max(1, Math.ceil(timeoutMs)), {
        admin: isAdminOp(request.op),
      });
      bytes = await (signal === undefined ? pending : raceAbort(pending, signal));
    } catch (e) {
      if (e instanceof PalfError) return { ok: false, node, error: e, answered: false };
      return { ok: false, node, error: fromTransportError(e, node, group), answered: false };
    }
    const response = decodeResponse(bytes);
    // An answer that cannot be read, or answers another op, says nothing of what the node did with the
    // request (an append may have been applied): it counts as no answer, so an append is retried or
    // reported INDETERMINATE, never failed.
    if (!response.ok)
      return {
        ok: false,
        node,
        error: fromRpcError(response.error, node, group),
        answered: response.unreadable !== true,
      };
    if (response.op !== request.op) {
      const error = new PalfError("INTERNAL", `node ${node} answered ${response.op} to ${request.op}`, {
        node,
        ...(group === undefined ? {} : { group }),
      });
      return { ok: false, node, error, answered: false };
    }
    return { ok: true, node, response };
  }

  /** Updates the leader cache from a failed request to `node` and says whether to retry. */
  learn(group: number, node: string, error: PalfError, answered: boolean): RetryDecision {
    const d = decide(error, answered);
    if (error.code === "NOT_LEADER" && error.leader !== undefined && error.leader !== node)
      this.o.cache.onHint(group, error.leader);
    else if (d.suspectNode || error.code === "NOT_LEADER") this.o.cache.suspect(group, node);
    return d;
  }

  /** Sends a group request to the group's leader, following redirects and retrying until the deadline. */
  async toGroup(group: number, request: RpcRequest, c: CallOptions): Promise<OkResponse> {
    const rt = this.o.runtime;
    const deadline = rt.now() + c.timeoutMs;
    const unknownAt = new Set<string>();
    let attempts = 0;
    let redirects = 0;
    let last: PalfError | undefined;
    for (;;) {
      const node = this.o.cache.target(group);
      const remaining = deadline - rt.now();
      if (this.closed) throw new PalfError("CLOSED", `${c.what}: the client is closed`, { group });
      if (remaining <= 0) throw timedOut(c, attempts, last, group);
      attempts++;
      const a = await this.send(node, request, Math.min(this.o.requestTimeoutMs, remaining), group, c.signal);
      if (a.ok) return a.response;
      last = a.error;
      const d = this.learn(group, node, a.error, a.answered);
      if (a.error.code === "UNKNOWN_GROUP") {
        unknownAt.add(node);
        // Every seed node said so: the group does not exist (yet), retrying will not help.
        if (this.o.cache.seedNodes().every((n) => unknownAt.has(n))) throw withAttempts(a.error, attempts);
      }
      if (!d.retry || attempts >= this.o.maxAttempts) throw withAttempts(a.error, attempts);
      const redirected =
        a.error.code === "NOT_LEADER" && a.error.leader !== undefined && a.error.leader !== node;
      redirects = redirected ? redirects + 1 : 0;
      // A fresh hint is followed at once; anything else (and redirect ping-pong) backs off.
      if (redirects === 0 || redirects > 2)
        await sleep(rt, backoffMs(rt, attempts, this.o.backoff), c.signal);
    }
  }

  /** Sends a request to one node, retrying transient failures (busy, no answer) until the deadline. */
  async toNode(node: string, request: RpcRequest, c: CallOptions): Promise<OkResponse> {
    const rt = this.o.runtime;
    const deadline = rt.now() + c.timeoutMs;
    let attempts = 0;
    let last: PalfError | undefined;
    for (;;) {
      const remaining = deadline - rt.now();
      if (this.closed) throw new PalfError("CLOSED", `${c.what}: the client is closed`, { node });
      if (remaining <= 0) throw timedOut(c, attempts, last);
      attempts++;
      const a = await this.send(
        node,
        request,
        Math.min(this.o.requestTimeoutMs, remaining),
        undefined,
        c.signal,
      );
      if (a.ok) return a.response;
      last = a.error;
      const code = a.error.code;
      const transient =
        (!a.answered && code !== "CLOSED" && code !== "ABORTED") ||
        code === "BUSY" ||
        code === "BACKPRESSURE";
      if (!transient || attempts >= this.o.maxAttempts) throw withAttempts(a.error, attempts);
      await sleep(rt, backoffMs(rt, attempts, this.o.backoff), c.signal);
    }
  }
}

/** The same error, with the attempt count in its details. */
export function withAttempts(e: PalfError, attempts: number): PalfError {
  if (e.attempts === attempts) return e;
  return new PalfError(e.code, e.message, {
    ...(e.group === undefined ? {} : { group: e.group }),
    ...(e.node === undefined ? {} : { node: e.node }),
    ...(e.leader === undefined ? {} : { leader: e.leader }),
    attempts,
    cause: e.cause,
  });
}

function timedOut(c: CallOptions, attempts: number, last: PalfError | undefined, group?: number): PalfError {
  const lastText = last === undefined ? "" : `; last error: ${last.message}`;
  return new PalfError(
    "TIMEOUT",
    `${c.what} timed out after ${c.timeoutMs} ms (${attempts} attempt${attempts === 1 ? "" : "s"}${lastText})`,
    { attempts, cause: last, ...(group === undefined ? {} : { group }) },
  );
}

function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(abortedError(signal));
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}
