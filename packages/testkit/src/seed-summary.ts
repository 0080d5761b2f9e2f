/**
 * The one JSON line both simulators end with (`{"seeds":N,"violations":0,"failedSeeds":[],...totals,
 * "seconds":s}`), plus, per failing seed, its first violations and the command that replays it.
 */
export class SeedSummary<K extends string> {
  private seeds = 0;
  private violations = 0;
  private readonly failedSeeds: number[] = [];
  private readonly totals: Record<string, number> = {};
  private readonly began = performance.now();

  constructor(private readonly keys: readonly K[]) {
    for (const k of keys) this.totals[k] = 0;
  }

  add(
    seed: number,
    report: { readonly violations: readonly string[] } & Readonly<Record<K, number>>,
    replay: string,
    verbose = false,
  ): void {
    this.seeds++;
    for (const k of this.keys) this.totals[k]! += report[k];
    if (report.violations.length > 0) {
      this.violations += report.violations.length;
      this.failedSeeds.push(seed);
      console.log(`seed ${seed}: ${report.violations.length} violation(s)`);
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
        seconds: Math.round((performance.now() - this.began) / 100) / 10,
      }),
    );
    process.exit(this.violations > 0 ? 1 : 0);
  }
}
