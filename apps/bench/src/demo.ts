// `pnpm start`: an in-process 3-replica cluster of many PALF groups on the in-memory network doing real
// appends; the node holding most leaderships is killed mid-run; prints what happened. (Until the NATS
// runtime lands, this is the main job.)
import { parseArgs } from "node:util";
import { ENTRY_HEADER_BYTES } from "@palf/core";
import { CoreCluster } from "./core-cluster.ts";

const { values } = parseArgs({
  options: {
    groups: { type: "string", default: "500" },
    seconds: { type: "string", default: "8" },
    size: { type: "string", default: "128" },
  },
});
const groups = Number(values.groups);
const seconds = Number(values.seconds);
const size = Number(values.size);
if (![groups, seconds, size].every((n) => Number.isSafeInteger(n) && n > 0)) {
  console.error("--groups, --seconds and --size must be positive integers");
  process.exit(2);
}

const t0 = performance.now();
const now = () => performance.now() - t0;
const leaseMs = 1000;
const cluster = new CoreCluster(groups, ENTRY_HEADER_BYTES + size, now(), { leaseMs });
const results = { committed: 0, failed: 0, indeterminate: 0 };
cluster.onResult = (_node, r) => {
  results[r.outcome] += (r.to - r.from - 64) / (ENTRY_HEADER_BYTES + size);
};
const log = (msg: string) => console.log(`[${(now() / 1000).toFixed(2)}s] ${msg}`);
const leaders = () => {
  const by = new Map<string, number>();
  let led = 0;
  for (let g = 1; g <= groups; g++) {
    const l = cluster.leader(g);
    if (!l) continue;
    led++;
    by.set(l.self, (by.get(l.self) ?? 0) + 1);
  }
  return { led, by: Object.fromEntries([...by].sort()) };
};

log(`starting ${groups} groups x 3 replicas (n1, n2, n3) in one process, lease ${leaseMs} ms`);
while (leaders().led < groups) {
  cluster.pump(now());
  await new Promise((r) => setTimeout(r, 5));
}
log(`all groups led after the restart silence and election: ${JSON.stringify(leaders().by)}`);

const payload = Buffer.alloc(size, 0x61);
let appended = 0;
let refused = 0;
let killed: string | undefined;
let killedAt = 0;
let recoveredAt = 0;
let lostWithNode = 0;
const runStart = now();
let nextReport = runStart + 1000;
while (now() - runStart < seconds * 1000) {
  const t = now();
  for (let g = 1; g <= groups; g++) {
    const l = cluster.leader(g);
    if (!l) {
      refused++;
      continue;
    }
    for (let i = 0; i < 20; i++) {
      if (l.append(payload, t).ok) appended++;
      else refused++;
    }
    l.endTurn(t);
  }
  cluster.pump(t);
  if (!killed && t - runStart > (seconds * 1000) / 3) {
    const by = leaders().by as Record<string, number>;
    killed = Object.entries(by).sort((a, b) => b[1] - a[1])[0]![0];
    for (let g = 1; g <= groups; g++) {
      const r = cluster.replicas.get(killed)!.get(g)!;
      lostWithNode += r.status().pendingResults;
    }
    cluster.kill(killed);
    killedAt = t;
    log(`killed ${killed}, which led ${by[killed]} groups`);
  }
  if (killed && !recoveredAt && leaders().led === groups) {
    recoveredAt = t;
    log(
      `every group has a leader again after ${Math.round(t - killedAt)} ms: ${JSON.stringify(leaders().by)}`,
    );
  }
  if (t >= nextReport) {
    nextReport += 1000;
    log(
      `appended ${appended}, committed ${results.committed}, failed ${results.failed}, leaders ${leaders().led}/${groups}`,
    );
  }
  await new Promise((r) => setImmediate(r));
}
const elapsed = (now() - runStart) / 1000;
const summary = {
  groups,
  seconds: Math.round(elapsed * 10) / 10,
  appended,
  refused,
  committed: results.committed,
  failed: results.failed,
  indeterminate: results.indeterminate,
  unresolvedOnKilledNode: appended - results.committed - results.failed - results.indeterminate,
  committedPerS: Math.round(results.committed / elapsed),
  elections: cluster.elections,
  killed,
  leaderlessMs: recoveredAt ? Math.round(recoveredAt - killedAt) : null,
};
log("every append got exactly one result (committed or failed), except those whose leader died with them");
console.log(JSON.stringify(summary));
