// `pnpm bench failover --nodes 3 --groups 1000 --seconds 30`: a real cluster on this machine (nats-server +
// N palfd processes, fsync on) with appends running through the client SDK; at `--kill-at` of the run the
// node leading the most groups is killed with SIGKILL. Measures how long the groups it led were without a
// leader (from the kill to the first leadership event of another node for each of them; confirmed by
// polling the survivors' status until every group is led), and after the run reads back every
// acknowledged append from the groups' leaders and counts the ones lost (missing or different bytes).
// Ends with one JSON line: {"leaderlessMaxMs","ackedLost","ackedPerS", ...}
import { parseArgs } from "node:util";
import {
  createGroups,
  createRealBenchCluster,
  leaderCounts,
  sleep,
  totalLeaders,
  waitAllLed,
} from "@palf/harness";
import { type FlagSpec, positiveInt } from "./flags.ts";
import { KillUnderLoad } from "./kill-under-load.ts";
import { round } from "./rounding.ts";

/** The flags of `failover` (parsed by parseArgs here, listed by `--help`). */
export const flags = {
  nodes: { type: "string", default: "3", help: "palfd processes", arg: "n" },
  groups: { type: "string", default: "1000", help: "groups", arg: "n" },
  seconds: { type: "string", default: "30", help: "run time", arg: "s" },
  size: { type: "string", default: "256", help: "entry payload bytes", arg: "bytes" },
  inflight: { type: "string", default: "256", help: "appends in flight in total", arg: "n" },
  "lease-ms": { type: "string", default: "2000", help: "leader lease", arg: "ms" },
  "kill-at": {
    type: "string",
    default: "0.33",
    help: "when to kill the busiest leader, as a fraction of the run",
    arg: "fraction",
  },
} as const satisfies FlagSpec;

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: flags,
    strict: true,
  });
  const nodeCount = positiveInt("nodes", values.nodes);
  const groups = positiveInt("groups", values.groups);
  const seconds = positiveInt("seconds", values.seconds);
  const size = Math.max(12, positiveInt("size", values.size));
  const inflight = positiveInt("inflight", values.inflight);
  const leaseMs = positiveInt("lease-ms", values["lease-ms"]);
  const killAt = Number(values["kill-at"]);
  if (!(killAt > 0 && killAt < 1)) throw new Error("--kill-at must be a fraction of the run, in (0, 1)");
  const nodes = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
  const cluster = createRealBenchCluster({ nodes, leaseMs });
  try {
    await cluster.start();
    const admin = await cluster.client({ requestTimeoutMs: 1000, operationTimeoutMs: 1000, maxAttempts: 1 });
    const reader = await cluster.client({ maxInFlightPerGroup: 1 });
    await createGroups(reader, groups, nodes, 64);
    await waitAllLed(admin, nodes, groups, 60_000);
    const probe = await cluster.probe();
    const run = await KillUnderLoad.start(cluster, probe, { groups, size, inflight, leaseMs, seconds });
    const start = run.startedAt;

    await sleep(seconds * 1000 * killAt);
    const counts = await leaderCounts(admin, nodes);
    const victim = [...counts].sort((a, b) => b[1].leaders - a[1].leaders)[0]![0];
    await run.noteGroupsLedBy(victim);
    const ackedBeforeKill = run.acked;
    const tKill = Date.now();
    const killedAt = await run.kill();
    console.error(
      `[failover] killed ${victim} (SIGKILL), which led ${run.victimGroups.size} of ${groups} groups`,
    );
    const alive = nodes.filter((n) => n !== victim);
    let allLedByStatusMs = Number.NaN;
    while (performance.now() - killedAt < 60_000) {
      if (totalLeaders(await leaderCounts(admin, alive)) >= groups) {
        allLedByStatusMs = performance.now() - killedAt;
        break;
      }
      await sleep(50);
    }
    const recoveredAt = Date.now();
    const ackedAtRecovery = run.acked;
    console.error(
      `[failover] every group led again after ${Math.round(allLedByStatusMs)} ms (status polls of ${alive.join(", ")})`,
    );

    const res = await run.finish();
    const end = Date.now();

    // Read back every acknowledged append from the group's current leader.
    const { lost, checked, lostExamples } = await run.countLost(
      async (g) => {
        const log = new Map<number, Uint8Array>();
        for await (const e of reader.group(g).entries(0)) log.set(e.lsn, e.payload);
        return log;
      },
      { concurrency: 32 },
    );
    await reader.close();
    await admin.close();

    const { reLed } = run;
    const reLedMax = reLed.size > 0 ? Math.max(...reLed.values()) : Number.NaN;
    const eventsComplete = run.reLedComplete;
    const total = run.acked;
    const out = {
      leaderlessMaxMs: Math.round(eventsComplete ? reLedMax : allLedByStatusMs),
      ackedLost: lost,
      ackedPerS: Math.round(total / ((end - start) / 1000)),
      acked: total,
      checked,
      errors: Object.values(res.errors).reduce((a, b) => a + b, 0),
      errorsByCode: res.errors,
      killed: victim,
      killedLed: run.victimGroups.size,
      leaderlessFrom: eventsComplete
        ? "leader events (kill to first event of another node, per group)"
        : "status polls (leader events incomplete)",
      allLedByStatusMs: Math.round(allLedByStatusMs),
      reLedByEvents: reLed.size,
      leaderlessMedianMs: Math.round(median([...reLed.values()])),
      otherGroupsLeaderChanges: run.otherChanges,
      ackedPerSBeforeKill: Math.round(ackedBeforeKill / ((tKill - start) / 1000)),
      ackedPerSDuringFailover: Math.round(
        (ackedAtRecovery - ackedBeforeKill) / ((recoveredAt - tKill) / 1000),
      ),
      ackedPerSAfter: Math.round((total - ackedAtRecovery) / Math.max(0.001, (end - recoveredAt) / 1000)),
      groups,
      nodes: nodeCount,
      seconds: round((end - start) / 1000),
      inflight,
      leaseMs,
      ...(lostExamples.length > 0 ? { lostExamples } : {}),
    };
    console.log(JSON.stringify(out));
  } finally {
    await cluster.stop();
  }
}

function median(v: number[]): number {
  if (v.length === 0) return Number.NaN;
  const s = [...v].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
