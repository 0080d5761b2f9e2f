import type { Replica } from "@palf/core";
import type { ReadEntryWire } from "@palf/transport";

/** One page of a group's committed entries, as the read RPC answers it. */
export interface ReadPage {
  readonly entries: ReadEntryWire[];
  readonly committedEnd: number;
  /** Where the next page starts. */
  readonly next: number;
  /** Set when `fromLsn` was recycled: nothing below this LSN can be read any more. */
  readonly recycledBelow?: number;
}

/**
 * Committed entries from `fromLsn`, at most `maxEntries` and about `maxBytes` (a first entry is always
 * taken whole). Payloads are copied: the page outlives the log's buffers.
 */
export function readPage(r: Replica, fromLsn: number, maxEntries: number, maxBytes: number): ReadPage {
  const entries: ReadEntryWire[] = [];
  let bytes = 0;
  let next = Math.max(fromLsn, r.base.lsn);
  if (fromLsn < r.base.lsn) return { recycledBelow: r.base.lsn, entries, committedEnd: r.committedEnd, next };
  let cut = false;
  for (const e of r.entries(fromLsn)) {
    if (entries.length >= maxEntries || (entries.length > 0 && bytes + e.payload.length > maxBytes)) {
      cut = true;
      break;
    }
    entries.push({ lsn: e.lsn, csn: e.csn, payload: Buffer.from(e.payload) });
    bytes += e.payload.length;
    next = e.lsn + 1;
  }
  // Only a page that ran out of committed entries may skip ahead to the committed end; one cut by a
  // limit (entries or bytes) continues right after its last entry.
  if (!cut) next = Math.max(next, r.committedEnd);
  return { entries, committedEnd: r.committedEnd, next };
}
