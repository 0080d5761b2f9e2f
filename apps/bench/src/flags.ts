/** A bad command-line flag: `pnpm bench` prints the message and exits 2. */
export class UsageError extends Error {}

/** The value of `--name` as a positive integer. */
export function positiveInt(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new UsageError(`--${name} must be a positive integer, got ${value}`);
  return n;
}
