// `pnpm sim:kv --seeds N [--start S] [--chaos-ms MS] [--unsafe a,b] [--byzantine] [--verbose] [--trace]`:
// runs seeded store simulations (real store servers and SDK on simulated PALF groups, network and clocks),
// prints a replay command for each failing seed, and ends with one JSON summary line. Exit 1 on any violation.
import { parseArgs } from "node:util";
import { type KvUnsafeSwitches, kvUnsafeSwitchNames } from "@palf/kv";
import { natArg, switchesArg } from "../cli-args.ts";
import { SeedSummary } from "../seed-summary.ts";
import { runKvChaos } from "./kv-chaos.ts";

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "20" },
    start: { type: "string", default: "1" },
    "chaos-ms": { type: "string", default: "8000" },
    unsafe: { type: "string" },
    byzantine: { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
    trace: { type: "boolean", default: false },
  },
});
const seeds = natArg("seeds", values.seeds);
const start = natArg("start", values.start);
const chaosMs = natArg("chaos-ms", values["chaos-ms"]);
const unsafe = switchesArg<keyof KvUnsafeSwitches>(values.unsafe, kvUnsafeSwitchNames);

const summary = new SeedSummary([
  "committed",
  "failed",
  "indeterminate",
  "appends",
  "serverCrashes",
  "coordinatorDeaths",
  "slowCoordinators",
  "lostCommitRecords",
  "cdcDelivered",
  "cdcRestarts",
  "byzantineProbes",
  "events",
] as const);
for (let seed = start; seed < start + seeds; seed++) {
  const report = await runKvChaos({
    seed,
    chaosMs,
    unsafe,
    byzantine: values.byzantine,
    ...(values.trace ? { trace: (line: string) => console.log(line) } : {}),
  });
  const flags = [
    `--seeds 1 --start ${seed} --chaos-ms ${chaosMs}`,
    values.unsafe ? ` --unsafe ${values.unsafe}` : "",
    values.byzantine ? " --byzantine" : "",
  ].join("");
  summary.add(seed, report, `pnpm sim:kv ${flags}`, values.verbose);
}
summary.finish();
