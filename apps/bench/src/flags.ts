/** A bad command-line flag: `pnpm bench` prints the message and exits 2. */
export class UsageError extends Error {}

/**
 * One flag of a benchmark: what node:util parseArgs needs (type, default) plus what `--help` shows. A
 * bench exports its flags so the dispatcher can print help and reject unknown flags before it starts
 * anything; the bench still parses its own argv with parseArgs (parseArgs ignores `help`, `arg`, `hidden`).
 */
export interface FlagDef {
  readonly type: "string" | "boolean";
  readonly default?: string | boolean;
  /** One line for `--help`. */
  readonly help: string;
  /** The value's name in `--help` (default "value"). */
  readonly arg?: string;
  /** Internal (e.g. a worker process's spec): accepted, not listed in `--help`. */
  readonly hidden?: boolean;
}

export type FlagSpec = Readonly<Record<string, FlagDef>>;

/** The value of `--name` as a positive integer. */
export function positiveInt(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`--${name} must be a positive integer, got ${value}`);
  return n;
}

/** The value of `--name` as a number >= 0 (fractions allowed). */
export function nonNegative(name: string, value: string | undefined): number {
  const n = Number(value);
  if (value === undefined || value.trim() === "" || !Number.isFinite(n) || n < 0)
    throw new UsageError(`--${name} must be a number >= 0, got ${value}`);
  return n;
}

/** `--name a,b,c` as a list of positive integers (e.g. a size mix). */
export function positiveIntList(name: string, value: string | undefined): number[] {
  const parts = (value ?? "").split(",").map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => p === ""))
    throw new UsageError(`--${name} must be a comma-separated list of positive integers, got ${value}`);
  return parts.map((p) => positiveInt(name, p));
}
