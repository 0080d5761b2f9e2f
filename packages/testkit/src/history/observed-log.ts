import type { AppendedPayload } from "./append-index.ts";

/** One op's claim that a committed data entry sits at some LSN. */
export interface Sighting {
  readonly op: number;
  readonly csn: number;
  /** payloadKey of the bytes: equal keys, equal bytes. */
  readonly key: string;
  /** The append that wrote these bytes, or undefined if no client did. */
  readonly appended: AppendedPayload | undefined;
}

/**
 * One group's committed log as pieced together from committed acks and reads. Committed entries never
 * change, so every claim about an LSN must agree with every other; an LSN keeps each distinct claim (the
 * first op to make it) so that a disagreement is reported once, naming both sides.
 */
export class ObservedLog {
  private readonly claims = new Map<number, Sighting[]>();
  private sorted: number[] | undefined;

  /** Records a claim; returns the first earlier claim it contradicts, the first time it is made. */
  observe(lsn: number, s: Sighting): Sighting | undefined {
    const known = this.claims.get(lsn);
    if (known === undefined) {
      this.claims.set(lsn, [s]);
      this.sorted = undefined;
      return undefined;
    }
    if (known.some((k) => same(k, s))) return undefined;
    known.push(s);
    return known[0];
  }

  /** The first claim about this LSN; the one later readers are held to. */
  at(lsn: number): Sighting | undefined {
    return this.claims.get(lsn)?.[0];
  }

  /** Every distinct claim about this LSN (more than one is a violation already reported). */
  claimsAt(lsn: number): readonly Sighting[] {
    return this.claims.get(lsn) ?? [];
  }

  /** Observed LSNs, ascending. */
  lsns(): readonly number[] {
    this.sorted ??= [...this.claims.keys()].sort((a, b) => a - b);
    return this.sorted;
  }

  /** Observed LSNs in [from, to), ascending. */
  lsnsIn(from: number, to: number): readonly number[] {
    const all = this.lsns();
    return all.slice(lowerBound(all, from), lowerBound(all, to));
  }

  get size(): number {
    return this.claims.size;
  }
}

function same(a: Sighting, b: Sighting): boolean {
  return a.csn === b.csn && a.key === b.key;
}

/** First index whose value is >= x. */
function lowerBound(sorted: readonly number[], x: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
