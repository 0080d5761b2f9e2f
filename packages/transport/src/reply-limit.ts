import { encodeRpc } from "./rpc-protocol.ts";

/**
 * The last line of defence for RPC replies: a reply NATS would refuse (above the frame limit) is replaced by
 * a small TOO_LARGE error, so the requester gets a clear answer instead of a timeout, and the serving node
 * never sees a publish throw. Handlers are expected to size their replies below the limit themselves (reads
 * cut their page, appends refuse too many items); reaching this means a handler got its budget wrong.
 */
export function fitReply(reply: Uint8Array, maxFrameBytes: number): { reply: Uint8Array; replaced: boolean } {
  if (reply.length <= maxFrameBytes) return { reply, replaced: false };
  return {
    reply: encodeRpc({
      ok: false,
      error: {
        code: "TOO_LARGE",
        message: `the reply of ${reply.length} bytes is above the ${maxFrameBytes}-byte frame limit; ask for less`,
      },
    }),
    replaced: true,
  };
}

/** Bytes a bundled reply adds around each item (id + length), for budgets of one bundled item. */
export const BUNDLED_ITEM_OVERHEAD = 8 + 5;

/** Room for a reply's own framing (version byte, op, committedEnd, next, bundle header). */
export const REPLY_FRAMING_BYTES = 1024;
/** Upper bound of one append result's encoding: {lsn, csn}, or an error with its code, message and leader. */
const APPEND_RESULT_BYTES = 256;

/**
 * Most items one append request may carry below a frame limit: its reply holds one result per item. A node
 * refuses a larger append with BAD_REQUEST before appending anything; the SDK never sends one.
 */
export function maxAppendItems(maxFrameBytes: number): number {
  return Math.max(1, Math.floor((maxFrameBytes - REPLY_FRAMING_BYTES) / APPEND_RESULT_BYTES));
}
