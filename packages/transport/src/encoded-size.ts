/**
 * Upper bounds of msgpackr's encoded size, so a batch can be cut into frames before it is encoded (encoding
 * first and splitting on overflow would encode big batches twice). Each bound is >= what msgpackr writes
 * with `useRecords: false` (checked by the codec's property tests, and by an assertion on every frame).
 */

/** Bytes msgpackr uses for a number: the small-integer forms exactly, 9 for everything else. */
export function numberSize(n: number): number {
  if (n >>> 0 === n) return n < 0x80 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
  if (n >> 0 === n) return n >= -0x20 ? 1 : n >= -0x80 ? 2 : n >= -0x8000 ? 3 : 5;
  return 9;
}

/** Header plus at most 3 UTF-8 bytes per UTF-16 unit. */
export function stringSize(s: string): number {
  return 5 + 3 * s.length;
}

/** Array or map header (fixarray for up to 15 items, else up to 5 bytes). */
export function headerSize(count: number): number {
  return count < 16 ? 1 : 5;
}

/** Any value a message may hold; used for the rare nested objects (BaseInfo) and for plain fields. */
export function valueSize(v: unknown): number {
  switch (typeof v) {
    case "number":
      return numberSize(v);
    case "boolean":
      return 1;
    case "undefined":
      return 3; // msgpackr writes undefined as a 3-byte extension
    case "string":
      return stringSize(v);
    case "bigint":
      return 9;
    case "object": {
      if (v === null) return 1;
      if (v instanceof Uint8Array) return 5 + v.length;
      if (Array.isArray(v)) return v.reduce((sum: number, x) => sum + valueSize(x), 5);
      let sum = 5;
      for (const [k, x] of Object.entries(v)) sum += stringSize(k) + valueSize(x);
      return sum;
    }
    default:
      // Functions and symbols are not data: msgpackr fails on them, so nothing sane gets here.
      return Number.POSITIVE_INFINITY;
  }
}
