// `pnpm bench cdc --groups 1000 --seconds 20`: a real cluster on this machine (nats-server + N palfd, fsync
// on) with the GTS group and G data groups; append loops run through the client SDK while a CDC reader over
// all G groups delivers the merged stream. Lag is commit-to-delivery: from the moment the append's commit
// was acknowledged to this process until the reader delivered that entry. After the run the appends stop,
// the reader drains, and every acknowledged append must have been delivered exactly once, in order.
// Ends with one JSON line: {"emittedPerS","lagP99Ms","orderViolations","missing", ...}
import { parseArgs } from "node:util";
import { type CdcEntry, cdcBefore, openCdc } from "@palf/cdc";
import { createGroups, createRealBenchCluster, Histogram, runLoad, sleep, waitAllLed } from "@palf/harness";
import { type FlagSpec, positiveInt } from "./flags.ts";
import { round } from "./rounding.ts";

/** The flags of `cdc` (parsed by parseArgs here, listed by `--help`). */
export const flags = {
  nodes: { type: "string", default: "3", help: "palfd processes", arg: "n" },
  groups: { type: "string", default: "1000", help: "data groups", arg: "n" },
  seconds: { type: "string", default: "20", help: "measuring time", arg: "s" },
  size: { type: "string", default: "256", help: "entry payload bytes", arg: "bytes" },
  inflight: { type: "string", default: "256", help: "appends in flight in total", arg: "n" },
  "lease-ms": { type: "string", default: "2000", help: "leader lease", arg: "ms" },
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
  const size = positiveInt("size", values.size);
  const inflight = positiveInt("inflight", values.inflight);
  const nodes = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
  const cluster = createRealBenchCluster({ nodes, leaseMs: positiveInt("lease-ms", values["lease-ms"]) });
  try {
    await cluster.start();
    const writer = await cluster.client();
    await writer.createGroup(0, nodes);
    await createGroups(writer, groups, nodes, 64);
    await waitAllLed(writer, nodes, groups + 1, 120_000);
    const readerClient = await cluster.client();
    const ids = Array.from({ length: groups }, (_, i) => i + 1);
    const reader = await openCdc(readerClient, { groups: ids });

    const ackedAt = new Map<string, number>();
    const ackWall = new Map<string, number>();
    const deliveredFirst = new Set<string>();
    const hist = new Histogram();
    let emitted = 0;
    let emittedInWindow = 0;
    let orderViolations = 0;
    let duplicates = 0;
    let last: CdcEntry | undefined;
    const seen = new Set<string>();
    const warmUntil = Date.now() + 2000;
    const endAt = warmUntil + seconds * 1000;
    const consuming = (async () => {
      for await (const e of reader) {
        const now = Date.now();
        const key = `${e.group}/${e.lsn}`;
        if (seen.has(key)) duplicates++;
        seen.add(key);
        if (last && !cdcBefore(last, e)) orderViolations++;
        last = e;
        emitted++;
        if (now >= warmUntil && now < endAt) emittedInWindow++;
        const acked = ackedAt.get(key);
        const wall = ackWall.get(key);
        if (acked === undefined) deliveredFirst.add(key);
        else if (wall !== undefined && wall >= warmUntil && wall < endAt)
          hist.add(Math.max(0.01, performance.now() - acked));
      }
    })();
    const load = await runLoad(writer, {
      groups,
      size,
      loops: inflight,
      firstLoop: 0,
      totalLoops: inflight,
      measureFrom: warmUntil,
      measureTo: endAt,
      onAck: (g, lsn) => {
        const key = `${g}/${lsn}`;
        const wall = Date.now();
        ackWall.set(key, wall);
        // Delivered before the ack reached this process (both race through NATS): lag counts as ~0.
        if (deliveredFirst.has(key)) {
          if (wall >= warmUntil && wall < endAt) hist.add(0.01);
        } else ackedAt.set(key, performance.now());
      },
    });
    // Drain: everything acknowledged must come out.
    const drainUntil = Date.now() + 30_000;
    while (Date.now() < drainUntil && [...ackWall.keys()].some((k) => !seen.has(k))) await sleep(100);
    const missing = [...ackWall.keys()].filter((k) => !seen.has(k)).length;
    await reader.close();
    await consuming;
    console.log(
      JSON.stringify({
        bench: "cdc",
        nodes: nodeCount,
        groups,
        seconds,
        inflight,
        ackedPerS: Math.round(load.acked / seconds),
        emittedPerS: Math.round(emittedInWindow / seconds),
        emitted,
        lagP50Ms: round(hist.percentile(50), 1),
        lagP99Ms: round(hist.percentile(99), 1),
        lagSamples: hist.count,
        deliveredBeforeAck: deliveredFirst.size,
        orderViolations,
        duplicates,
        missing,
        reader: reader.stats,
      }),
    );
    await writer.close();
    await readerClient.close();
  } finally {
    await cluster.stop();
  }
}
