// `pnpm sim:node --seeds N [--start S] [--nodes 3|5] [--groups G] [--chaos-ms MS] [--unsafe a,b]
// [--no-recovery-check] [--recreate random|always|never] [--membership random|always|never] [--byzantine]
// [--commit-info-delay-ms N] [--verbose] [--trace]`: runs seeded whole-node simulations (real PalfNode on
// simulated disks and network), prints a replay command for each failing seed, and ends with one JSON summary
// line. Exit 1 on any violation. `--unsafe` takes node switches (NodeUnsafeSwitches) and core ones
// (UnsafeSwitches, applied to every replica). Each seed draws its commit-info delay (0-100 ms) unless
// `--commit-info-delay-ms` pins it.
import { parseArgs } from "node:util";
import { type UnsafeSwitch, unsafeSwitchNames } from "@palf/core";
import { type NodeUnsafeSwitches, nodeUnsafeSwitchNames } from "@palf/node";
import { commitInfoDelayArg, natArg, switchesArg } from "../cli-args.ts";
import { SeedSummary } from "../seed-summary.ts";
import type { RecreateMode } from "./group-recreate.ts";
import type { MembershipMode } from "./membership-chaos.ts";
import { type NodeSeedReport, runNodeChaos } from "./node-chaos.ts";

const { values } = parseArgs({
  options: {
    seeds: { type: "string", default: "20" },
    start: { type: "string", default: "1" },
    nodes: { type: "string" },
    groups: { type: "string", default: "3" },
    "chaos-ms": { type: "string", default: "15000" },
    unsafe: { type: "string" },
    "no-recovery-check": { type: "boolean", default: false },
    recreate: { type: "string", default: "random" },
    membership: { type: "string", default: "random" },
    byzantine: { type: "boolean", default: false },
    "commit-info-delay-ms": { type: "string" },
    verbose: { type: "boolean", default: false },
    trace: { type: "boolean", default: false },
  },
});
const seeds = natArg("seeds", values.seeds);
const start = natArg("start", values.start);
const groups = Math.max(1, natArg("groups", values.groups));
const chaosMs = natArg("chaos-ms", values["chaos-ms"]);
const pinnedDelay = commitInfoDelayArg(values["commit-info-delay-ms"]);
const nodes = values.nodes === undefined ? undefined : natArg("nodes", values.nodes);
if (nodes !== undefined && nodes !== 3 && nodes !== 5) {
  console.error("--nodes must be 3 or 5");
  process.exit(2);
}
const switches = nodeUnsafeSwitchNames;
const named = switchesArg<keyof NodeUnsafeSwitches | UnsafeSwitch>(values.unsafe, [
  ...switches,
  ...unsafeSwitchNames,
]);
const isNodeSwitch = (name: string) => (switches as readonly string[]).includes(name);
const unsafe: NodeUnsafeSwitches = Object.fromEntries(
  Object.keys(named)
    .filter(isNodeSwitch)
    .map((n) => [n, true]),
);
const replicaUnsafe: Partial<Record<UnsafeSwitch, boolean>> = Object.fromEntries(
  Object.keys(named)
    .filter((n) => !isNodeSwitch(n))
    .map((n) => [n, true]),
);
const recreate = values.recreate as RecreateMode;
const membership = values.membership as MembershipMode;
for (const [flag, mode] of [
  ["recreate", recreate],
  ["membership", membership],
]) {
  if (!["random", "always", "never"].includes(mode!)) {
    console.error(`--${flag} must be random, always or never`);
    process.exit(2);
  }
}

const summary = new SeedSummary([
  "appends",
  "committed",
  "failed",
  "indeterminate",
  "elections",
  "rejected",
  "events",
  "reads",
  "linearizableReads",
  "crashes",
  "pauses",
  "clockJumps",
  "fatalStops",
  "tornWrites",
  "linearizabilityUnknown",
  "recreations",
  "configChanges",
  "replaces",
  "movedGroups",
] as const);
for (let seed = start; seed < start + seeds; seed++) {
  const report: NodeSeedReport = await runNodeChaos({
    seed,
    groups,
    chaosMs,
    ...(nodes !== undefined ? { nodes } : {}),
    ...(Object.keys(unsafe).length > 0 ? { unsafe } : {}),
    ...(Object.keys(replicaUnsafe).length > 0 ? { replicaUnsafe } : {}),
    recreate,
    membership,
    ...(values.trace ? { trace: (line: string) => console.log(line) } : {}),
    ...(values["no-recovery-check"] ? { recoveryCheck: false } : {}),
    ...(values.byzantine ? { byzantineClients: true } : {}),
    ...(pinnedDelay !== undefined ? { commitInfoDelayMs: pinnedDelay } : {}),
  });
  const flags = [
    `--seeds 1 --start ${seed} --groups ${groups} --chaos-ms ${chaosMs}`,
    nodes !== undefined ? ` --nodes ${nodes}` : "",
    values.unsafe ? ` --unsafe ${values.unsafe}` : "",
    values["no-recovery-check"] ? " --no-recovery-check" : "",
    recreate !== "random" ? ` --recreate ${recreate}` : "",
    membership !== "random" ? ` --membership ${membership}` : "",
    values.byzantine ? " --byzantine" : "",
    ` --commit-info-delay-ms ${report.commitInfoDelayMs}`,
  ].join("");
  summary.add(seed, report, `pnpm sim:node ${flags}`, values.verbose);
}
summary.finish();
