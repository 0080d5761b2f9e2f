import type { ErrorCode } from "./error-codes.ts";
import type { Csn, Lsn, ReplicaId } from "./types.ts";

/** What `append` answers at once: the entry's place, or why it was not taken. */
export type AppendOutcome =
  | { readonly ok: true; readonly lsn: Lsn; readonly csn: Csn; readonly duplicate?: boolean }
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
