/** Why a WAL call failed; callers branch on `code`, never on the message text. */
export type WalErrorCode =
  /** A record is malformed: unknown kind, bad number, truncate below base, base moving back. */
  | "INVALID_RECORD"
  /** An entry does not start where the group's log ends. */
  | "LSN_NOT_FOLLOWING"
  /** A record can never fit in one segment. */
  | "TOO_LARGE"
  /** Accepting the records would exceed `diskBudgetBytes`; nothing was queued. */
  | "DISK_FULL"
  /** A segment holds a bad record that is not a torn tail; the WAL refuses to guess. */
  | "CORRUPT"
  /** A write or fdatasync failed earlier; the WAL is out of service for good. */
  | "FAILED"
  /** The WAL was closed. */
  | "CLOSED";

/** The one error type the storage package throws on purpose. */
export class WalError extends Error {
  override readonly name = "WalError";
  readonly code: WalErrorCode;
  /** For CORRUPT: the segment file and byte offset of the bad record. */
  readonly file: string | undefined;
  readonly offset: number | undefined;

  constructor(
    code: WalErrorCode,
    message: string,
    details: { file?: string; offset?: number; cause?: unknown } = {},
  ) {
    super(`${code}: ${message}`, details.cause === undefined ? undefined : { cause: details.cause });
    this.code = code;
    this.file = details.file;
    this.offset = details.offset;
  }
}
