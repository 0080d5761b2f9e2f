import type { Millis } from "./types.ts";

/**
 * How slow the host's loop turns have recently been. A reply can only be read in a turn, and a round trip
 * crosses several turns on each side (sent at the end of ours, read in the peer's next, answered at the end
 * of that, read in our next), so a timeout that waits for a round trip is stretched by that many slow turns.
 * Without the stretch, an overloaded node abandons every campaign and restarts every reconfirmation before
 * their replies can be read, and each retry adds more work: an election storm. Only liveness timeouts use
 * it; leases never do (they count from when the request was sent, whatever the loop does).
 */
export interface LoopLag {
  /** Recent slow-turn duration, ms (0 when the loop keeps up: the simulators' virtual turns take no time). */
  lagMs(): Millis;
}

/** Turn boundaries a request and its reply wait at, counted generously (see LoopLag). */
export const ROUND_TRIP_TURNS = 6;

/** `baseMs` for a round trip, plus the time the host's slow turns add to it. */
export function roundTripMs(baseMs: Millis, lag: LoopLag | undefined): Millis {
  return baseMs + ROUND_TRIP_TURNS * (lag?.lagMs() ?? 0);
}
