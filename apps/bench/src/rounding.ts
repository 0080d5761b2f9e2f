// Numbers in bench reports, rounded to a few digits.

export function round(v: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}
