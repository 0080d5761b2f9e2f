// `pnpm sim:kv --seeds N [--start S] [--chaos-ms MS] [--backend memory|node] [--unsafe a,b] [--byzantine]
// [--commit-info-delay-ms N] [--verbose] [--trace]` (the delay: node backend; drawn per seed unless pinned): runs seeded store simulations (real store servers and SDK over simulated PALF groups
// (memory) or real palfd nodes in the whole-node simulator (node), on the simulated network and clocks),
// prints a replay command for each failing seed, and ends with one JSON summary line. Exit 1 on any violation.
import { parseArgs } from "node:util";
import { type KvUnsafeSwitches, kvUnsafeSwitchNames } from "@palf/kv";
import { commitInfoDelayArg, natArg, switchesArg } from "../cli-args.ts";
import { SeedSummary } from "../seed-summary.ts";
import { runKvChaos } from "./kv-chaos.ts";
import type { KvSimBackendKind } from "./kv-sim-backend.ts";

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "20" },
    start: { type: "string", default: "1" },
    "chaos-ms": { type: "string", default: "8000" },
    unsafe: { type: "string" },
    backend: { type: "string", default: "memory" },
    byzantine: { type: "boolean", default: false },
    "commit-info-delay-ms": { type: "string" },
    verbose: { type: "boolean", default: false },
    trace: { type: "boolean", default: false },
  },
});
const seeds = natArg("seeds", values.seeds);
const start = natArg("start", values.start);
const chaosMs = natArg("chaos-ms", values["chaos-ms"]);
const pinnedDelay = commitInfoDelayArg(values["commit-info-delay-ms"]);
const backend = values.backend as KvSimBackendKind;
if (backend !== "memory" && backend !== "node") {
  console.error("--backend must be memory or node");
  process.exit(2);
}
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
    backend,
    byzantine: values.byzantine,
    ...(pinnedDelay !== undefined ? { commitInfoDelayMs: pinnedDelay } : {}),
    ...(values.trace ? { trace: (line: string) => console.log(line) } : {}),
  });
  const flags = [
    `--seeds 1 --start ${seed} --chaos-ms ${chaosMs}`,
    backend !== "memory" ? ` --backend ${backend}` : "",
    values.unsafe ? ` --unsafe ${values.unsafe}` : "",
    values.byzantine ? " --byzantine" : "",
    report.commitInfoDelayMs !== undefined ? ` --commit-info-delay-ms ${report.commitInfoDelayMs}` : "",
  ].join("");
  summary.add(seed, report, `pnpm sim:kv ${flags}`, values.verbose);
}
summary.finish();
