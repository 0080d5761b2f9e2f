// `pnpm sim --seeds N [--start S] [--groups G] [--replicas 3|5] [--steps K] [--unsafe name,...]
// [--commit-info-delay-ms N]`: runs seeded chaos simulations, prints a replay command for each failing seed, and
// ends with one JSON summary line. Exit 1 on any violation. Each seed draws its commit-info delay (0-100 ms,
// commit-info-delay.ts) unless `--commit-info-delay-ms` pins it. `--unsafe` turns safety rules off (core's UnsafeSwitches) to watch a guard fire:
// `pnpm sim --seeds 50 --unsafe prepareReplyPromisedPid`; `--unsafe list` prints the names.

import { parseArgs } from "node:util";
import { type UnsafeSwitches, unsafeSwitchNames } from "@palf/core";
import { runChaos } from "./chaos.ts";
import { commitInfoDelayArg, natArg, switchesArg } from "./cli-args.ts";
import { drawCommitInfoDelayMs } from "./commit-info-delay.ts";
import { SeedSummary } from "./seed-summary.ts";

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "100" },
    start: { type: "string", default: "1" },
    groups: { type: "string", default: "3" },
    replicas: { type: "string", default: "3" },
    steps: { type: "string", default: "300" },
    verbose: { type: "boolean", default: false },
    unsafe: { type: "string", default: "" },
    "commit-info-delay-ms": { type: "string" },
  },
});
if (values.unsafe === "list") {
  console.log(unsafeSwitchNames.join("\n"));
  process.exit(0);
}
const unsafe: Partial<UnsafeSwitches> = switchesArg(values.unsafe, unsafeSwitchNames);
const unsafeOpts: { unsafe?: Partial<UnsafeSwitches> } = values.unsafe ? { unsafe } : {};
const seeds = natArg("seeds", values.seeds);
const start = natArg("start", values.start);
const groups = Math.max(1, natArg("groups", values.groups));
const replicas = natArg("replicas", values.replicas);
const steps = natArg("steps", values.steps);
const pinnedDelay = commitInfoDelayArg(values["commit-info-delay-ms"]);
if (replicas !== 3 && replicas !== 5) {
  console.error("--replicas must be 3 or 5");
  process.exit(2);
}

const summary = new SeedSummary([
  "appends",
  "committed",
  "failed",
  "indeterminate",
  "elections",
  "rejected",
  "events",
] as const);
for (let seed = start; seed < start + seeds; seed++) {
  let report: ReturnType<typeof runChaos>;
  try {
    report = runChaos({
      seed,
      groups,
      replicas,
      steps,
      ...unsafeOpts,
      ...(pinnedDelay !== undefined ? { replica: { commitInfoDelayMs: pinnedDelay } } : {}),
    });
  } catch (err) {
    report = {
      seed,
      commitInfoDelayMs: pinnedDelay ?? drawCommitInfoDelayMs(seed),
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
  summary.add(
    seed,
    report,
    `pnpm sim --seeds 1 --start ${seed} --groups ${groups} --replicas ${replicas} --steps ${steps}` +
      (values.unsafe ? ` --unsafe ${values.unsafe}` : "") +
      ` --commit-info-delay-ms ${report.commitInfoDelayMs}`,
    values.verbose,
  );
}
summary.finish();
