// `pnpm sim:node --seeds N [--start S] [--nodes 3|5] [--groups G] [--chaos-ms MS] [--unsafe a,b]
// [--no-recovery-check] [--verbose] [--trace]`:
// runs seeded whole-node simulations (real PalfNode on simulated disks and network), prints a replay command
// for each failing seed, and ends with one JSON summary line. Exit 1 on any violation.
import { parseArgs } from "node:util";
import type { NodeUnsafeSwitches } from "@palf/node";
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
    verbose: { type: "boolean", default: false },
    trace: { type: "boolean", default: false },
  },
});
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
const chaosMs = int("chaos-ms", values["chaos-ms"]);
const nodes = values.nodes === undefined ? undefined : int("nodes", values.nodes);
if (nodes !== undefined && nodes !== 3 && nodes !== 5) {
  console.error("--nodes must be 3 or 5");
  process.exit(2);
}
const switches = [
  "durableOnSubmit",
  "durableFromLaterFlush",
  "forgetPromiseOnRecovery",
  "hubLeaseFromAck",
  "skipSegmentDirFsync",
  "answerBeforeCommit",
];
const unsafe: Record<string, boolean> = {};
for (const name of values.unsafe?.split(",").filter((s) => s.length > 0) ?? []) {
  if (!switches.includes(name)) {
    console.error(`--unsafe takes ${switches.join(", ")}; got ${name}`);
    process.exit(2);
  }
  unsafe[name] = true;
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
  reads: 0,
  linearizableReads: 0,
  crashes: 0,
  pauses: 0,
  clockJumps: 0,
  fatalStops: 0,
  tornWrites: 0,
  linearizabilityUnknown: 0,
};
const began = performance.now();
for (let seed = start; seed < start + seeds; seed++) {
  const report: NodeSeedReport = await runNodeChaos({
    seed,
    groups,
    chaosMs,
    ...(nodes !== undefined ? { nodes } : {}),
    ...(Object.keys(unsafe).length > 0 ? { unsafe: unsafe as NodeUnsafeSwitches } : {}),
    ...(values.trace ? { trace: (line: string) => console.log(line) } : {}),
    ...(values["no-recovery-check"] ? { recoveryCheck: false } : {}),
  });
  total.seeds++;
  for (const k of [
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
  ] as const)
    total[k] += report[k];
  if (report.violations.length > 0) {
    total.violations += report.violations.length;
    total.failedSeeds.push(seed);
    console.log(`seed ${seed}: ${report.violations.length} violation(s)`);
    for (const v of report.violations.slice(0, 5)) console.log(`  ${v.slice(0, 2000)}`);
    const flags = [
      `--seeds 1 --start ${seed} --groups ${groups} --chaos-ms ${chaosMs}`,
      nodes !== undefined ? ` --nodes ${nodes}` : "",
      values.unsafe ? ` --unsafe ${values.unsafe}` : "",
      values["no-recovery-check"] ? " --no-recovery-check" : "",
    ].join("");
    console.log(`  replay: pnpm sim:node ${flags}`);
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
