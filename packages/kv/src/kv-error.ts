/**
 * Why a store call failed. CONFLICT: another transaction wrote a key first (retrying may succeed).
 * ABORTED: the transaction was aborted (by a resolver, or a participant refused it for a reason other than
 * a conflict). INDETERMINATE: the outcome cannot be known now (a decision append whose result is unknown).
 * BAD_REQUEST: the call itself is wrong (sizes, key counts, an unknown partition map version); nothing was
 * written. UNAVAILABLE: the log or the timestamp service could not be reached in time. CLOSED: the store
 * handle was closed.
 */
export type KvErrorCode =
  | "CONFLICT"
  | "ABORTED"
  | "INDETERMINATE"
  | "BAD_REQUEST"
  | "SNAPSHOT_TOO_OLD"
  | "UNAVAILABLE"
  | "CLOSED";

export class KvError extends Error {
  constructor(
    readonly code: KvErrorCode,
    message: string,
    readonly detail: { readonly txnId?: string; readonly key?: string; readonly partition?: number } = {},
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = "KvError";
  }
}

/**
 * A failure as the SDK reports it: a KvError as is; anything else (the log or GTS client's own error) as
 * UNAVAILABLE, keeping the original as the cause, so callers see one error type with a code.
 */
export function asKvError(err: unknown): KvError {
  if (err instanceof KvError) return err;
  return new KvError(
    "UNAVAILABLE",
    `the log or the timestamp service failed: ${(err as Error)?.message ?? String(err)}`,
    {},
    {
      cause: err,
    },
  );
}
