// `pnpm bench core --groups 100 --size 256 --seconds 5`: the PALF core alone (3 replicas per group, perfect
// in-process network, durability reported at once, no I/O). Ends with one JSON line.
import { parseArgs } from "node:util";
import { ENTRY_HEADER_BYTES } from "@palf/core";
import { CoreCluster } from "./core-cluster.ts";
import { type FlagSpec, positiveInt } from "./flags.ts";

/** The flags of `core` (parsed by parseArgs here, listed by `--help`). */
export const flags = {
  groups: { type: "string", default: "100", help: "groups (3 replicas each, in process)", arg: "n" },
  size: { type: "string", default: "256", help: "entry payload bytes", arg: "bytes" },
  seconds: { type: "string", default: "5", help: "measuring time", arg: "s" },
  inflight: { type: "string", default: "4096", help: "appends in flight in total", arg: "n" },
} as const satisfies FlagSpec;

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: flags,
  });
  const groups = positiveInt("groups", values.groups);
  const size = positiveInt("size", values.size);
  const seconds = positiveInt("seconds", values.seconds);
  const inflight = positiveInt("inflight", values.inflight);
  const payload = Buffer.alloc(size, 7);
  const t0 = performance.now();
  const clock = () => performance.now() - t0;
  // A short virtual lease for the election phase only: the run itself uses the real clock.
  let virtual = 0;
  const cluster = new CoreCluster(groups, ENTRY_HEADER_BYTES + size, virtual);
  while (countLeaders(cluster, groups) < groups && virtual < 60_000) {
    virtual += 50;
    cluster.pump(virtual);
  }
  const electedAt = performance.now();
  const offset = virtual - clock();
  const now = () => clock() + offset;
  // Appends per group per turn so that about `inflight` entries per group are outstanding.
  const perTurn = Math.max(1, Math.min(inflight, Math.floor(200_000 / groups)));
  const leaders = Array.from({ length: groups }, (_, i) => cluster.leader(i + 1)!);
  const startCommitted = cluster.committedEntries;
  const start = performance.now();
  let appended = 0;
  let refused = 0;
  let turns = 0;
  while (performance.now() - start < seconds * 1000) {
    const t = now();
    for (const r of leaders) {
      for (let i = 0; i < perTurn; i++) {
        const out = r.propose(payload, t);
        if (out.ok) appended++;
        else refused++;
      }
      r.endTurn(t);
    }
    cluster.pump(t);
    // Recycle what is committed, as a store that checkpoints would; keeps the logs (and GC) small.
    if (++turns % 8 === 0) cluster.recycle(t);
  }
  const elapsed = (performance.now() - start) / 1000;
  const committed = cluster.committedEntries - startCommitted;
  const mem = process.memoryUsage();
  console.log(
    JSON.stringify({
      committedPerS: Math.round(committed / elapsed),
      groups,
      size,
      seconds: Math.round(elapsed * 10) / 10,
      appended,
      refused,
      failed: cluster.failedEntries,
      electionMs: Math.round(electedAt - t0),
      heapMb: Math.round(mem.heapUsed / 2 ** 20),
      rssMb: Math.round(mem.rss / 2 ** 20),
    }),
  );
}

function countLeaders(cluster: CoreCluster, groups: number): number {
  let n = 0;
  for (let g = 1; g <= groups; g++) if (cluster.leader(g)) n++;
  return n;
}
