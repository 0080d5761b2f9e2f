// `pnpm bench gts --clients 100 --seconds 10`: a real cluster on this machine (nats-server + N palfd, fsync
// on) with the GTS group created; C GTS clients (each one request in flight, ranges shared by its callers)
// with K callers each, all in this process over a few NATS connections. Every caller checks that each
// timestamp is above every timestamp any caller had received before it asked (real-time monotonicity).
// Ends with one JSON line: {"tsPerS","p99Ms","monotonic", ...}
import { parseArgs } from "node:util";
import { GtsClient } from "@palf/gts";
import { createRealBenchCluster, Histogram, sleep } from "@palf/harness";
import type { Transport } from "@palf/transport";
import { type FlagSpec, positiveInt } from "./flags.ts";
import { round } from "./rounding.ts";

/** The flags of `gts` (parsed by parseArgs here, listed by `--help`). */
export const flags = {
  nodes: { type: "string", default: "3", help: "palfd processes", arg: "n" },
  clients: { type: "string", default: "100", help: "GTS clients", arg: "n" },
  callers: { type: "string", default: "64", help: "callers per client", arg: "n" },
  connections: { type: "string", default: "4", help: "NATS connections the clients share", arg: "n" },
  seconds: { type: "string", default: "10", help: "measuring time", arg: "s" },
  "lease-ms": { type: "string", default: "2000", help: "leader lease", arg: "ms" },
} as const satisfies FlagSpec;

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: flags,
    strict: true,
  });
  const nodeCount = positiveInt("nodes", values.nodes);
  const clientCount = positiveInt("clients", values.clients);
  const callers = positiveInt("callers", values.callers);
  const connections = positiveInt("connections", values.connections);
  const seconds = positiveInt("seconds", values.seconds);
  const nodes = Array.from({ length: nodeCount }, (_, i) => `n${i + 1}`);
  const cluster = createRealBenchCluster({ nodes, leaseMs: positiveInt("lease-ms", values["lease-ms"]) });
  try {
    await cluster.start();
    const admin = await cluster.client();
    await admin.createGroup(0, nodes);
    const first = await admin.timestamp();
    const transports: Transport[] = [];
    for (let i = 0; i < connections; i++) transports.push(await cluster.probe());
    const clients = Array.from(
      { length: clientCount },
      (_, i) => new GtsClient(transports[i % connections]!, { nodes }),
    );
    const hist = new Histogram();
    let maxSeen = first;
    let received = 0;
    let violations = 0;
    const warmUntil = Date.now() + 1000;
    const endAt = warmUntil + seconds * 1000;
    // The clock is read once per 8 calls (latency is sampled there), so the bench's own cost stays small.
    let measuring = false;
    let running = true;
    const clock = setInterval(() => {
      const now = Date.now();
      measuring = now >= warmUntil && now < endAt;
      running = now < endAt;
    }, 5);
    const caller = async (c: GtsClient) => {
      for (let i = 0; running; i++) {
        const floor = maxSeen;
        const t0 = (i & 7) === 0 ? performance.now() : 0;
        const ts = await c.timestamp();
        if (ts <= floor) violations++;
        if (ts > maxSeen) maxSeen = ts;
        if (measuring) {
          received++;
          if (t0 > 0) hist.add(performance.now() - t0);
        }
      }
    };
    await Promise.all(clients.flatMap((c) => Array.from({ length: callers }, () => caller(c))));
    clearInterval(clock);
    const requests = clients.reduce((n, c) => n + c.stats.requests, 0);
    console.log(
      JSON.stringify({
        bench: "gts",
        nodes: nodeCount,
        clients: clientCount,
        callersPerClient: callers,
        seconds,
        tsPerS: Math.round(received / seconds),
        p50Ms: round(hist.percentile(50), 2),
        p99Ms: round(hist.percentile(99), 2),
        monotonic: violations === 0,
        violations,
        requestsPerS: Math.round(requests / (seconds + 1)),
      }),
    );
    for (const c of clients) c.close();
    await admin.close();
    await sleep(10);
  } finally {
    await cluster.stop();
  }
}
