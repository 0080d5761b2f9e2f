// `pnpm bench replace --groups 1000 --seconds 30`: a real cluster on this machine (nats-server + 4 palfd
// processes, fsync on), G groups on n1-n3 with appends running through the client SDK; at `--kill-at` of
// the run n3 is killed with SIGKILL and replaced by n4 at once (the SDK's replaceNode, as `palfctl node
// replace n3 n4` runs it). Measures how long the replace took and how long groups went without a leader
// (from the kill to the first leadership event of another node for each group n3 led, and any other
// leaderless stretch seen by leader events during the replace), then reads every acknowledged append back
// from n4 and counts the ones lost (missing, or different bytes).
// Ends with one JSON line: {"groups","replaceSeconds","ackedLost","leaderlessMaxMs", ...}
import { parseArgs } from "node:util";
import { replaceNode } from "@palf/client";
import { createGroups, createRealBenchCluster, groupStatus, rpc, sleep, waitAllLed } from "@palf/harness";
import { type FlagSpec, positiveInt, UsageError } from "./flags.ts";
import { KillUnderLoad } from "./kill-under-load.ts";
import { round } from "./rounding.ts";

/** The flags of `replace` (parsed by parseArgs here, listed by `--help`). */
export const flags = {
  groups: { type: "string", default: "1000", help: "groups on n1-n3 whose n3 replicas move to n4", arg: "n" },
  seconds: { type: "string", default: "30", help: "length of the run under load", arg: "s" },
  size: { type: "string", default: "256", help: "append payload bytes", arg: "bytes" },
  inflight: { type: "string", default: "256", help: "appends in flight", arg: "n" },
  concurrency: { type: "string", default: "256", help: "groups replaced at once", arg: "n" },
  "lease-ms": { type: "string", default: "2000", help: "leader lease of the nodes", arg: "ms" },
  "kill-at": {
    type: "string",
    default: "0.2",
    help: "when n3 is killed, as a fraction of the run",
    arg: "f",
  },
} satisfies FlagSpec;

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: flags, strict: true });
  const groups = positiveInt("groups", values.groups);
  const seconds = positiveInt("seconds", values.seconds);
  const size = Math.max(12, positiveInt("size", values.size));
  const inflight = positiveInt("inflight", values.inflight);
  const concurrency = positiveInt("concurrency", values.concurrency);
  const leaseMs = positiveInt("lease-ms", values["lease-ms"]);
  const killAt = Number(values["kill-at"]);
  if (!(killAt > 0 && killAt < 1)) throw new UsageError("--kill-at must be a fraction of the run, in (0, 1)");
  const nodes = ["n1", "n2", "n3", "n4"];
  const hosts = ["n1", "n2", "n3"];
  const cluster = createRealBenchCluster({ nodes, leaseMs });
  try {
    await cluster.start();
    const admin = await cluster.client({ operationTimeoutMs: 60_000 });
    await createGroups(admin, groups, hosts, 64);
    await waitAllLed(admin, hosts, groups, 120_000);
    const probe = await cluster.probe();
    const run = await KillUnderLoad.start(cluster, probe, {
      groups,
      size,
      inflight,
      leaseMs,
      seconds,
      // The load runs for --seconds, and on until the replace is done.
      untilFinished: true,
    });

    await sleep(seconds * 1000 * killAt);
    await run.noteGroupsLedBy("n3");
    await run.kill();
    console.error(`[replace] killed n3 (SIGKILL), which led ${run.victimGroups.size} of ${groups} groups`);
    const t0 = performance.now();
    let lastPrint = 0;
    const report = await replaceNode(admin.membership(), "n3", "n4", {
      concurrency,
      onProgress: (done, total) => {
        if (performance.now() - lastPrint < 2000 && done < total) return;
        lastPrint = performance.now();
        console.error(`[replace] ${done}/${total} groups after ${round((performance.now() - t0) / 1000)} s`);
      },
    });
    const replaceSeconds = (performance.now() - t0) / 1000;
    const res = await run.finish();
    const end = Date.now();

    // Every acknowledged append, read back from n4 once it has caught up with it.
    const { lost, checked, lostExamples } = await run.countLost(
      async (g, need) => {
        for (let t = 0; t < 300; t++) {
          if (((await groupStatus(probe, "n4", g, 3000))?.committedEnd ?? -1) >= need) break;
          await sleep(100);
        }
        const log = new Map<number, Uint8Array>();
        for (let from = 0; ; ) {
          const r = await rpc(probe, "n4", { op: "read", group: g, fromLsn: from, maxEntries: 2000 }, 5000);
          if (!r.ok || r.op !== "read") break;
          for (const e of r.entries) log.set(e.lsn, e.payload);
          if (r.next <= from || r.next >= r.committedEnd) break;
          from = r.next;
        }
        return log;
      },
      { concurrency: 16, where: "on n4" },
    );
    const onN4 = (await admin.membership().overview(["n1", "n2", "n4"])).groups.filter(
      (g) => g.members.includes("n4") && !g.members.includes("n3"),
    ).length;
    await admin.close();
    const out = {
      groups,
      replaceSeconds: round(replaceSeconds),
      ackedLost: lost,
      leaderlessMaxMs: run.reLed.size > 0 ? Math.round(Math.max(...run.reLed.values())) : null,
      // False when some group n3 led sent no leader event (its time is then not in leaderlessMaxMs).
      leaderlessComplete: run.reLedComplete,
      replaced: report.replaced,
      failed: report.failed.length,
      membersWithN4: onN4,
      acked: run.acked,
      checked,
      ackedPerS: Math.round(run.acked / ((end - run.startedAt) / 1000)),
      errorsByCode: res.errors,
      killedLed: run.victimGroups.size,
      reLedByEvents: run.reLed.size,
      concurrency,
      leaseMs,
      seconds: round((end - run.startedAt) / 1000),
      ...(lostExamples.length > 0 ? { lostExamples } : {}),
      ...(report.failed.length > 0 ? { failedExamples: report.failed.slice(0, 5) } : {}),
    };
    console.log(JSON.stringify(out));
  } finally {
    await cluster.stop();
  }
}
