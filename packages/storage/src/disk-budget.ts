/**
 * The disk budget: submit refuses records (DISK_FULL) whose bytes would take the segment
 * files above `diskBudgetBytes`. Checked before anything is queued, so a refused submit
 * leaves the WAL exactly as it was; recycling frees space and appends succeed again.
 */
import { WalError } from "./errors.ts";
import { HEADER_BYTES, SEAL_BYTES } from "./record-codec.ts";
import type { WalRecord } from "./types.ts";

/** What the budget needs to know about the files. */
export interface DiskUsage {
  /** Sum of segment file sizes on disk now. */
  diskBytes: number;
  /** The segment appends go to. */
  currentWriteOffset: number;
  currentFileSize: number;
  /** Encoded bytes queued or being written, not yet reflected in file sizes. */
  pendingBytes: number;
}

/**
 * Bytes on disk once `adding` more bytes are written. Conservative: it counts queued bytes as
 * growth even when a rollover will put them into a reused (already counted) file, and keeps
 * room for the seal record of the current segment.
 */
export function projectedDiskBytes(u: DiskUsage, adding: number): number {
  const currentEnd = u.currentWriteOffset + u.pendingBytes + adding + SEAL_BYTES;
  return u.diskBytes - u.currentFileSize + Math.max(u.currentFileSize, currentEnd);
}

/** Bytes one record takes in a segment (what a submit adds for it). */
export function recordBytes(r: WalRecord): number {
  return HEADER_BYTES + (r.kind === "truncate" || r.kind === "drop-group" ? 0 : r.bytes.byteLength);
}

/** Throws DISK_FULL if writing `adding` more bytes would exceed `budget`. */
export function checkDiskBudget(budget: number | undefined, u: DiskUsage, adding: number): void {
  if (budget === undefined) return;
  const projected = projectedDiskBytes(u, adding);
  if (projected > budget) {
    throw new WalError(
      "DISK_FULL",
      `accepting ${adding} bytes would take the WAL to ${projected} bytes on disk, over its budget of ${budget}; ` +
        "advance bases and recycle",
    );
  }
}
