import { REPLY_FRAMING_BYTES } from "@palf/transport";

/**
 * How much one RPC reply may carry so that it fits below the transport's frame limit (NATS max_payload):
 * a read is cut to a shorter page (and says so); appends are bounded by the protocol's maxAppendItems.
 * The transport replaces any reply still too large with TOO_LARGE; budgets keep ordinary requests away.
 */

/** Upper bound of one read entry's encoding beside its payload (map header, keys, lsn, csn, bin header). */
export const READ_ENTRY_OVERHEAD_BYTES = 48;

export interface ReadLimits {
  readonly maxEntries: number;
  /** Payload bytes; the first entry of a page is returned even when larger (it still fits a frame). */
  readonly maxBytes: number;
  /** True when the frame, not the request, set a limit: the page may end before what was asked. */
  readonly capped: boolean;
}

/** The read limits to apply: what the request asked for, lowered to what one reply frame can hold. */
export function readLimits(maxEntries: number, maxBytes: number, maxFrameBytes: number): ReadLimits {
  const room = Math.max(0, maxFrameBytes - REPLY_FRAMING_BYTES);
  // Entries first (a quarter of the room for their framing), then payload bytes in what is left.
  const entryCap = Math.max(1, Math.floor(room / 4 / READ_ENTRY_OVERHEAD_BYTES));
  const entries = Math.min(maxEntries, entryCap);
  const byteCap = Math.max(0, room - entries * READ_ENTRY_OVERHEAD_BYTES);
  const bytes = Math.min(maxBytes, byteCap);
  return { maxEntries: entries, maxBytes: bytes, capped: entries < maxEntries || bytes < maxBytes };
}
