import { type Runtime, TransportError } from "@palf/transport";
import { PalfError } from "./palf-error.ts";

/** What to do after one request failed. */
export interface RetryDecision {
  /** Try again (with the same session and seq for appends). */
  readonly retry: boolean;
  /** The node cannot serve the group now: route the next try elsewhere. */
  readonly suspectNode: boolean;
  /** The request may have been applied (no answer, or the node itself does not know yet). */
  readonly maybeApplied: boolean;
}

const FINAL: RetryDecision = { retry: false, suspectNode: false, maybeApplied: false };

/**
 * How the client treats each error. Retrying an append is safe only because every retry carries the
 * append's (session, seq), so a leader that already has it answers with the original result.
 *   NOT_LEADER                       retry at the hinted leader (or the next node)
 *   UNKNOWN_GROUP, STOPPING, HALTED  retry on another node
 *   BUSY, BACKPRESSURE               retry the same node after a backoff
 *   TIMEOUT answered by a node       retry the same node; the append may be in its log already
 *   no answer (timeout, failure)     retry on another node; the append may have been applied
 *   no responders                    retry on another node; nothing was applied
 *   FAILED, TOO_LARGE, BAD_REQUEST, NOT_WRITABLE, INDETERMINATE, INTERNAL, CLOSED, ABORTED: final
 * INDETERMINATE is final: the node already said it cannot know, and the caller must resolve it (e.g. by
 * reading the log) rather than have the client guess.
 */
export function decide(error: PalfError, answered: boolean): RetryDecision {
  if (!answered) {
    const cause = error.cause;
    const code = cause instanceof TransportError ? cause.code : undefined;
    if (error.code === "CLOSED") return { retry: false, suspectNode: false, maybeApplied: true };
    if (error.code === "ABORTED") return { retry: false, suspectNode: false, maybeApplied: true };
    return { retry: true, suspectNode: true, maybeApplied: code !== "noResponders" };
  }
  switch (error.code) {
    case "NOT_LEADER":
      return { retry: true, suspectNode: error.leader === undefined, maybeApplied: false };
    case "UNKNOWN_GROUP":
    case "STOPPING":
    case "HALTED":
      return { retry: true, suspectNode: true, maybeApplied: false };
    case "BUSY":
    case "BACKPRESSURE":
      return { retry: true, suspectNode: false, maybeApplied: false };
    case "TIMEOUT":
      return { retry: true, suspectNode: false, maybeApplied: true };
    case "INDETERMINATE":
      return { retry: false, suspectNode: false, maybeApplied: true };
    default:
      return FINAL;
  }
}

export interface BackoffOptions {
  /** First retry delay (ms). Default 10. */
  readonly initialMs?: number;
  /** Largest retry delay (ms). Default 1000. */
  readonly maxMs?: number;
}

/** Exponential backoff with jitter for the n-th retry (n >= 1): half to all of min(max, initial * 2^(n-1)). */
export function backoffMs(rt: Runtime, retry: number, o: BackoffOptions = {}): number {
  const initial = o.initialMs ?? 10;
  const max = o.maxMs ?? 1000;
  const full = Math.min(max, initial * 2 ** Math.max(0, retry - 1));
  return Math.round(full * (0.5 + rt.random() * 0.5));
}

/** Resolves after `ms` on the runtime's clock; rejects with ABORTED when the signal fires first. */
export function sleep(rt: Runtime, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(signal));
    const onAbort = () => {
      rt.clearTimeout(timer);
      reject(abortedError(signal!));
    };
    const timer = rt.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

export function abortedError(signal: AbortSignal): PalfError {
  return new PalfError("ABORTED", "the operation was aborted", { cause: signal.reason });
}
