import type { AppendId } from "./effects.ts";
import type { ErrorCode } from "./error-codes.ts";
import type { Csn, Lsn, ReplicaId } from "./types.ts";

/**
 * What `propose` answers at once: the entry's place, or why it was not taken. `id` is what the append's later
 * explicit result names it by (a `GroupEntryResult`, or a `RetryResult` for a duplicate); without an id this
 * answer is final: a retry of an append already committed.
 */
export type AppendOutcome =
  | {
      readonly ok: true;
      readonly lsn: Lsn;
      readonly csn: Csn;
      readonly id?: AppendId;
      readonly duplicate?: boolean;
    }
  | { readonly ok: false; readonly code: AppendError; readonly leader?: ReplicaId; readonly reason?: string };

/** The codes `append` refuses with (a part of the one error table, ERROR_CODES). */
export type AppendError = Extract<
  ErrorCode,
  | "NOT_LEADER"
  | "BUSY"
  | "BACKPRESSURE"
  | "TOO_LARGE"
  | "BAD_REQUEST"
  | "HALTED"
  | "NOT_WRITABLE"
  | "INDETERMINATE"
>;

/** What an admin call (config change, leader transfer) answers at once. */
export type AdminOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: string; readonly reason: string };
