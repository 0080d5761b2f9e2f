/**
 * The one JSON line the simulators end with (`{"seeds":N,"violations":0,"failedSeeds":[],...totals,
 * "commitInfoDelayMs":{"0ms":n,"1-10ms":n,"11-99ms":n,"100ms":n},"seconds":s}`), plus, per failing seed, its
 * commit-info delay, its first violations and the command that replays it.
 */
export class SeedSummary<K extends string> {
  private seeds = 0;
  private violations = 0;
  private readonly failedSeeds: number[] = [];
  private readonly totals: Record<string, number> = {};
  /** Seeds per commit-info delay band (only runs that report a delay). */
  private readonly delays: Record<string, number> = {};
  private readonly began = performance.now();

  constructor(private readonly keys: readonly K[]) {
    for (const k of keys) this.totals[k] = 0;
  }

  add(
    seed: number,
    report: { readonly violations: readonly string[]; readonly commitInfoDelayMs?: number } & Readonly<
      Record<K, number>
    >,
    replay: string,
    verbose = false,
  ): void {
    this.seeds++;
    for (const k of this.keys) this.totals[k]! += report[k];
    const delay = report.commitInfoDelayMs;
    if (delay !== undefined) {
      if (Object.keys(this.delays).length === 0)
        for (const b of ["0ms", "1-10ms", "11-99ms", "100ms"]) this.delays[b] = 0;
      const band = delay === 0 ? "0ms" : delay <= 10 ? "1-10ms" : delay < 100 ? "11-99ms" : "100ms";
      this.delays[band]! += 1;
    }
    if (report.violations.length > 0) {
      this.violations += report.violations.length;
      this.failedSeeds.push(seed);
      const shape = delay === undefined ? "" : ` (commit-info delay ${delay} ms)`;
      console.log(`seed ${seed}${shape}: ${report.violations.length} violation(s)`);
      for (const v of report.violations.slice(0, 5)) console.log(`  ${v.slice(0, 2000)}`);
      console.log(`  replay: ${replay}`);
    } else if (verbose) console.log(JSON.stringify(report));
  }

  /** Prints the summary line and exits: 1 on any violation. */
  finish(): never {
    console.log(
      JSON.stringify({
        seeds: this.seeds,
        violations: this.violations,
        failedSeeds: this.failedSeeds.slice(0, 20),
        ...this.totals,
        ...(Object.keys(this.delays).length > 0 ? { commitInfoDelayMs: this.delays } : {}),
        seconds: Math.round((performance.now() - this.began) / 100) / 10,
      }),
    );
    process.exit(this.violations > 0 ? 1 : 0);
  }
}
