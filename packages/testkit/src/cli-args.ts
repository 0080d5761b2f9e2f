/** Flag parsing shared by the simulator CLIs: a bad flag prints why and exits 2. */

export function natArg(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got ${value}`);
    process.exit(2);
  }
  return n;
}

/** `--unsafe a,b`: each name must be one of `names`; the switches turned on. */
export function switchesArg<N extends string>(
  value: string | undefined,
  names: readonly N[],
): Partial<Record<N, boolean>> {
  const on: Partial<Record<N, boolean>> = {};
  for (const name of value?.split(",").filter((s) => s.length > 0) ?? []) {
    if (!names.includes(name as N)) {
      console.error(`--unsafe: no switch named ${name} (one of: ${names.join(", ")})`);
      process.exit(2);
    }
    on[name as N] = true;
  }
  return on;
}

/** `--commit-info-delay-ms N`: pins the delay a simulator otherwise draws per seed; undefined when absent. */
export function commitInfoDelayArg(value: string | undefined): number | undefined {
  return value === undefined ? undefined : natArg("commit-info-delay-ms", value);
}
