/** The payload of a ceiling entry in the GTS group; the ceiling itself is the entry's CSN (refCsn). */
export const CEILING_PAYLOAD = new TextEncoder().encode("gts-ceiling");

/** The GTS group of every cluster. */
export const GTS_GROUP = 0;

/** Physical time in integer microseconds from a monotonic millisecond clock anchored at the wall clock. */
export function microsFrom(originMs: number, monotonicMs: number): number {
  return Math.floor((originMs + monotonicMs) * 1000);
}
