// `pnpm sim --seeds N [--start S] [--groups G] [--replicas 3|5] [--steps K] [--unsafe name,...]`: runs seeded
// chaos simulations, prints a replay command for each failing seed, and ends with one JSON summary line. Exit 1
// on any violation. `--unsafe` turns safety rules off (core's UnsafeSwitches) to watch a guard fire:
// `pnpm sim --seeds 50 --unsafe prepareReplyPromisedPid`; `--unsafe list` prints the names.
import { parseArgs } from "node:util";
import { type UnsafeSwitch, type UnsafeSwitches, unsafeSwitchNames } from "@palf/core";
import { runChaos } from "./chaos.ts";

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "100" },
    start: { type: "string", default: "1" },
    groups: { type: "string", default: "3" },
    replicas: { type: "string", default: "3" },
    steps: { type: "string", default: "300" },
    verbose: { type: "boolean", default: false },
    unsafe: { type: "string", default: "" },
  },
});
if (values.unsafe === "list") {
  console.log(unsafeSwitchNames.join("\n"));
  process.exit(0);
}
const unsafe: Partial<Record<UnsafeSwitch, boolean>> = {};
for (const name of values.unsafe.split(",").filter((n) => n !== "")) {
  if (!unsafeSwitchNames.includes(name as UnsafeSwitch)) {
    console.error(`--unsafe: no switch named ${name} (try --unsafe list)`);
    process.exit(2);
  }
  unsafe[name as UnsafeSwitch] = true;
}
const unsafeOpts: { unsafe?: Partial<UnsafeSwitches> } = values.unsafe ? { unsafe } : {};
const int = (name: string, v: string | undefined) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got ${v}`);
    process.exit(2);
  }
  return n;
};
const seeds = int("seeds", values.seeds);
const start = int("start", values.start);
const groups = Math.max(1, int("groups", values.groups));
const replicas = int("replicas", values.replicas);
const steps = int("steps", values.steps);
if (replicas !== 3 && replicas !== 5) {
  console.error("--replicas must be 3 or 5");
  process.exit(2);
}

const total = {
  seeds: 0,
  violations: 0,
  failedSeeds: [] as number[],
  appends: 0,
  committed: 0,
  failed: 0,
  indeterminate: 0,
  elections: 0,
  rejected: 0,
  events: 0,
};
const began = performance.now();
for (let seed = start; seed < start + seeds; seed++) {
  let report: ReturnType<typeof runChaos>;
  try {
    report = runChaos({ seed, groups, replicas, steps, ...unsafeOpts });
  } catch (err) {
    report = {
      seed,
      violations: [`crash: ${(err as Error).stack}`],
      appends: 0,
      committed: 0,
      failed: 0,
      indeterminate: 0,
      elections: 0,
      rejected: 0,
      events: 0,
      virtualMs: 0,
    };
  }
  total.seeds++;
  total.appends += report.appends;
  total.committed += report.committed;
  total.failed += report.failed;
  total.indeterminate += report.indeterminate;
  total.elections += report.elections;
  total.rejected += report.rejected;
  total.events += report.events;
  if (report.violations.length > 0) {
    total.violations += report.violations.length;
    total.failedSeeds.push(seed);
    console.log(`seed ${seed}: ${report.violations.length} violation(s)`);
    for (const v of report.violations.slice(0, 5)) console.log(`  ${v}`);
    console.log(
      `  replay: pnpm sim --seeds 1 --start ${seed} --groups ${groups} --replicas ${replicas} --steps ${steps}` +
        (values.unsafe ? ` --unsafe ${values.unsafe}` : ""),
    );
  } else if (values.verbose) {
    console.log(JSON.stringify(report));
  }
}
console.log(
  JSON.stringify({
    ...total,
    failedSeeds: total.failedSeeds.slice(0, 20),
    seconds: Math.round((performance.now() - began) / 100) / 10,
  }),
);
process.exit(total.violations > 0 ? 1 : 0);
