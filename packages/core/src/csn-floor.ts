import type { Csn } from "./types.ts";

/**
 * The host's GTS floor for the CSNs its leaders assign (DESIGN section 4, watermarks). One source serves
 * every group of a node: raising the floor is one assignment, not one per group.
 *
 * A new leader may not assign CSNs until it holds a floor fetched from GTS after its StartWorking committed
 * (quorum intersection then puts every watermark of an old leader below every CSN it assigns). Fetches are
 * numbered when their request leaves: `requested` counts requests sent, `valueFetch` names the request
 * whose answer `value` is.
 */
export interface CsnFloorSource {
  /** Highest GTS value received; every CSN assigned from now on is above it. */
  readonly value: Csn;
  /** Number of the request that brought `value` (1-based; 0 = none yet). */
  readonly valueFetch: number;
  /** Number of requests sent so far. */
  readonly requested: number;
  /** False while the cluster has no GTS (no watermarks can exist yet): leaders need not wait for a floor. */
  readonly required: boolean;
  /** A leader is waiting for a fresh floor: fetch one soon. */
  wanted(): void;
}
