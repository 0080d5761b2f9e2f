/**
 * Input checks of the shard WAL: a record of the wrong shape or too large for a segment is refused with a
 * clear WalError, and submit refuses its group's records alone.
 */
import { WalError } from "./errors.ts";
import { HEADER_BYTES, SEAL_BYTES } from "./record-codec.ts";
import type { WalRecord } from "./types.ts";

const MAX_GROUP = 0xffffffff;

/** The record's encoded size, after checking its shape and that it fits a `segmentBytes` segment. */
export function checkedRecordSize(r: WalRecord, segmentBytes: number): number {
  const size = HEADER_BYTES + payloadBytes(r);
  if (size > segmentBytes - SEAL_BYTES) {
    throw new WalError(
      "TOO_LARGE",
      `a ${r.kind} record of ${size} bytes cannot fit in a ${segmentBytes}-byte segment`,
    );
  }
  return size;
}

/** The record's payload bytes; throws INVALID_RECORD for a record of the wrong shape. */
function payloadBytes(r: WalRecord): number {
  if (r === null || typeof r !== "object") throw new WalError("INVALID_RECORD", "a record must be an object");
  checkGroup(r.group);
  let payload = 0;
  switch (r.kind) {
    case "entry":
      checkLsn("lsn", r.lsn);
      checkLsn("end", r.end);
      checkLsn("pid", r.pid);
      if (r.end <= r.lsn)
        throw new WalError("INVALID_RECORD", `entry end ${r.end} must be above its lsn ${r.lsn}`);
      payload = checkBytes(r.bytes);
      break;
    case "truncate":
      checkLsn("lsn", r.lsn);
      break;
    case "meta":
      payload = checkBytes(r.bytes);
      break;
    case "base":
      checkLsn("lsn", r.lsn);
      if (r.reset !== undefined && typeof r.reset !== "boolean")
        throw new WalError("INVALID_RECORD", "reset must be a boolean");
      payload = checkBytes(r.bytes);
      break;
    case "drop-group":
      break;
    default:
      throw new WalError(
        "INVALID_RECORD",
        `unknown record kind ${JSON.stringify((r as { kind: unknown }).kind)}`,
      );
  }
  return payload;
}

function checkGroup(group: unknown): void {
  if (typeof group !== "number" || !Number.isInteger(group) || group < 0 || group > MAX_GROUP) {
    throw new WalError("INVALID_RECORD", `group must be a uint32, got ${String(group)}`);
  }
}

function checkLsn(name: string, value: unknown): void {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new WalError("INVALID_RECORD", `${name} must be a non-negative safe integer, got ${String(value)}`);
  }
}

function checkBytes(bytes: unknown): number {
  if (!(bytes instanceof Uint8Array)) throw new WalError("INVALID_RECORD", "bytes must be a Uint8Array");
  return bytes.byteLength;
}
