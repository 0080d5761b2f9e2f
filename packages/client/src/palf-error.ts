import { type ErrorCode, type RpcError, TransportError } from "@palf/transport";

/**
 * What a client call can fail with: any code of the one error table (core's ERROR_CODES): the nodes' codes
 * (NOT_LEADER, FAILED, TOO_LARGE...) plus three of the client's own: UNAVAILABLE (no node answered: no
 * responders, connection trouble), CLOSED (the client or its transport was closed) and ABORTED (the caller's
 * AbortSignal fired).
 *
 * For appends, FAILED means the entry will never be committed, INDETERMINATE that the client cannot know
 * (it was sent, and no explicit result came back in time); only INDETERMINATE may hide a commit.
 */
export type PalfErrorCode = ErrorCode;

export interface PalfErrorDetails {
  readonly group?: number;
  /** The node that answered (or did not). */
  readonly node?: string;
  /** The leader a NOT_LEADER answer pointed to. */
  readonly leader?: string;
  /** How many requests were sent for this call. */
  readonly attempts?: number;
  readonly cause?: unknown;
}

/** A typed client error: `code` says what happened, the message says where and why. */
export class PalfError extends Error {
  readonly code: PalfErrorCode;
  readonly group: number | undefined;
  readonly node: string | undefined;
  readonly leader: string | undefined;
  readonly attempts: number | undefined;

  constructor(code: PalfErrorCode, message: string, details: PalfErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "PalfError";
    this.code = code;
    this.group = details.group;
    this.node = details.node;
    this.leader = details.leader;
    this.attempts = details.attempts;
  }

  /** A JSON-friendly view (for CLIs and logs). */
  toJSON(): Record<string, unknown> {
    const out: Record<string, unknown> = { code: this.code, message: this.message };
    if (this.group !== undefined) out.group = this.group;
    if (this.node !== undefined) out.node = this.node;
    if (this.leader !== undefined) out.leader = this.leader;
    if (this.attempts !== undefined) out.attempts = this.attempts;
    return out;
  }
}

/** The client's error for a protocol error answered by `node`. */
export function fromRpcError(error: RpcError, node: string, group?: number): PalfError {
  const where = group === undefined ? `node ${node}` : `group ${group} on node ${node}`;
  const hint = error.leader === undefined ? "" : ` (leader: ${error.leader})`;
  const text = error.message === undefined ? "" : `: ${error.message}`;
  return new PalfError(error.code, `${error.code} from ${where}${text}${hint}`, {
    node,
    ...(group === undefined ? {} : { group }),
    ...(error.leader === undefined ? {} : { leader: error.leader }),
  });
}

/** The client's error for a request that got no answer (timeout, no responders, closed connection). */
export function fromTransportError(e: unknown, node: string, group?: number): PalfError {
  const details = { node, cause: e, ...(group === undefined ? {} : { group }) };
  if (e instanceof TransportError) {
    switch (e.code) {
      case "timeout":
        return new PalfError("TIMEOUT", e.message, details);
      case "closed":
        return new PalfError("CLOSED", e.message, details);
      case "noResponders":
        return new PalfError("UNAVAILABLE", e.message, details);
      case "failed":
        return new PalfError("UNAVAILABLE", e.message, details);
    }
  }
  if (e instanceof PalfError) return e;
  return new PalfError(
    "UNAVAILABLE",
    `request to ${node} failed: ${(e as Error)?.message ?? String(e)}`,
    details,
  );
}
