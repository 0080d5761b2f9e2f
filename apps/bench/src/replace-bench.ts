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
import {
  createGroups,
  createRealBenchCluster,
  groupStatus,
  makePayload,
  pool,
  round,
  rpc,
  sleep,
  waitAllLed,
  watchLeaders,
} from "./cluster-kit.ts";
import { type FlagSpec, positiveInt, UsageError } from "./flags.ts";
import { runLoad } from "./load.ts";

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
    const ids = Array.from({ length: groups }, (_, i) => i + 1);

    // Leadership by group after the kill: the last leader event and since when a group has none.
    let killedAt = 0;
    const victimGroups = new Set<number>();
    const reLed = new Map<number, number>();
    const unwatch = watchLeaders(probe, (e, at) => {
      if (killedAt === 0 || e.leader === "n3") return;
      if (victimGroups.has(e.group) && !reLed.has(e.group)) reLed.set(e.group, at - killedAt);
    });

    const client = await cluster.client({ maxInFlight: inflight, requestTimeoutMs: leaseMs });
    const acks = { group: [] as number[], lsn: [] as number[], seq: [] as number[] };
    const start = Date.now();
    let replaced = false;
    const load = runLoad(client, {
      groups,
      size,
      loops: inflight,
      firstLoop: 0,
      totalLoops: inflight,
      measureFrom: start,
      // The load runs for --seconds, and on until the replace is done.
      get measureTo() {
        return replaced ? start + seconds * 1000 : Number.MAX_SAFE_INTEGER;
      },
      payload: (g, seq) => makePayload(g, seq, size),
      onAck: (g, lsn, seq) => {
        acks.group.push(g);
        acks.lsn.push(lsn);
        acks.seq.push(seq);
      },
    });

    await sleep(seconds * 1000 * killAt);
    await pool(ids, 100, async (g) => {
      if ((await groupStatus(probe, "n3", g, 2000))?.role === "leader") victimGroups.add(g);
    });
    killedAt = performance.now();
    await cluster.kill("n3");
    console.error(`[replace] killed n3 (SIGKILL), which led ${victimGroups.size} of ${groups} groups`);
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
    replaced = true;
    const res = await load;
    await client.close();
    unwatch();
    const end = Date.now();

    // Every acknowledged append, read back from n4 once it has caught up with it.
    const byGroup = new Map<number, number[]>();
    for (let i = 0; i < acks.lsn.length; i++) {
      const list = byGroup.get(acks.group[i]!) ?? [];
      list.push(i);
      byGroup.set(acks.group[i]!, list);
    }
    let lost = 0;
    let checked = 0;
    const lostExamples: string[] = [];
    await pool([...byGroup.keys()], 16, async (g) => {
      const need = Math.max(...byGroup.get(g)!.map((i) => acks.lsn[i]!)) + 1;
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
      for (const i of byGroup.get(g)!) {
        checked++;
        const got = log.get(acks.lsn[i]!);
        if (!got || Buffer.compare(Buffer.from(got), makePayload(g, acks.seq[i]!, size)) !== 0) {
          lost++;
          if (lostExamples.length < 5)
            lostExamples.push(`group ${g} lsn ${acks.lsn[i]} ${got ? "differs" : "missing"} on n4`);
        }
      }
    });
    const onN4 = (await admin.membership().overview(["n1", "n2", "n4"])).groups.filter(
      (g) => g.members.includes("n4") && !g.members.includes("n3"),
    ).length;
    await admin.close();
    const out = {
      groups,
      replaceSeconds: round(replaceSeconds),
      ackedLost: lost,
      leaderlessMaxMs: reLed.size > 0 ? Math.round(Math.max(...reLed.values())) : null,
      // False when some group n3 led sent no leader event (its time is then not in leaderlessMaxMs).
      leaderlessComplete: reLed.size === victimGroups.size,
      replaced: report.replaced,
      failed: report.failed.length,
      membersWithN4: onN4,
      acked: acks.lsn.length,
      checked,
      ackedPerS: Math.round(acks.lsn.length / ((end - start) / 1000)),
      errorsByCode: res.errors,
      killedLed: victimGroups.size,
      reLedByEvents: reLed.size,
      concurrency,
      leaseMs,
      seconds: round((end - start) / 1000),
      ...(lostExamples.length > 0 ? { lostExamples } : {}),
      ...(report.failed.length > 0 ? { failedExamples: report.failed.slice(0, 5) } : {}),
    };
    console.log(JSON.stringify(out));
  } finally {
    await cluster.stop();
  }
}
