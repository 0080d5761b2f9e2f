import type { Message } from "@palf/core";
import { encodeBatches } from "./peer-codec.ts";
import type { Outbound } from "./transport.ts";

/** The frames for one send(): a ready frame as is, messages encoded and cut below `maxBytes`. */
export function framesOf(
  frameOrMessages: Uint8Array | readonly Message[],
  maxBytes: number,
): readonly Uint8Array[] {
  return frameOrMessages instanceof Uint8Array ? [frameOrMessages] : encodeBatches(frameOrMessages, maxBytes);
}

/** Yield after this many bytes or frames: publishing only buffers, the socket is written between turns. */
const YIELD_BYTES = 1024 * 1024;
const YIELD_FRAMES = 256;

/**
 * Sends a loop turn's output, giving the event loop a turn after every YIELD_BYTES or YIELD_FRAMES, so a
 * big turn neither buffers everything in memory first nor starves inbound traffic (lease replies) meanwhile.
 */
export async function sendAllYielding(
  outbound: Iterable<Outbound>,
  send: (o: Outbound) => number,
): Promise<void> {
  let bytes = 0;
  let frames = 0;
  for (const o of outbound) {
    bytes += send(o);
    frames++;
    if (bytes >= YIELD_BYTES || frames >= YIELD_FRAMES) {
      bytes = 0;
      frames = 0;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}
