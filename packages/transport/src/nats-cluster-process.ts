import { createServer } from "node:net";
import { connect } from "@nats-io/transport-node";
import { type NatsServerProcess, startNatsServer } from "./nats-server-process.ts";

/**
 * A NATS cluster for tests and the demo, as production runs it: `size` nats-servers on loopback joined by
 * routes (every server lists every other one), each on its own client port. Clients and palfd take every
 * URL and move to another server when theirs goes away.
 */
export interface NatsClusterProcess {
  /** One client URL per server, in server order. */
  readonly urls: readonly string[];
  readonly servers: readonly (NatsServerProcess | undefined)[];
  /** Kills one server (it stays down until `restart`). */
  kill(index: number): Promise<void>;
  /** Starts a killed server again on its ports, with its routes. */
  restart(index: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startNatsCluster(
  o: { size?: number; name?: string } = {},
): Promise<NatsClusterProcess> {
  const size = o.size ?? 3;
  const clientPorts = await freePorts(size);
  const routePorts = await freePorts(size);
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`);
  const args = (i: number) => [
    "--cluster_name",
    o.name ?? "palf",
    "--cluster",
    routes[i]!,
    "--routes",
    routes.filter((_, j) => j !== i).join(","),
  ];
  const servers: (NatsServerProcess | undefined)[] = await Promise.all(
    clientPorts.map((port, i) => startNatsServer({ port, args: args(i) })),
  );
  const urls = clientPorts.map((p) => `nats://127.0.0.1:${p}`);
  const cluster: NatsClusterProcess = {
    urls,
    servers,
    kill: async (i) => {
      await servers[i]?.stop();
      servers[i] = undefined;
    },
    restart: async (i) => {
      if (servers[i]) return;
      servers[i] = await startNatsServer({ port: clientPorts[i]!, args: args(i) });
      await routed(urls.filter((_, j) => servers[j] !== undefined));
    },
    stop: async () => {
      await Promise.all(servers.map((s) => s?.stop()));
    },
  };
  try {
    await routed(urls);
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  return cluster;
}

/** Waits until a message published on each server reaches a subscriber on every other one (routes are up). */
async function routed(urls: readonly string[], timeoutMs = 15_000): Promise<void> {
  const conns = await Promise.all(urls.map((u) => connect({ servers: u, name: "palf-route-probe" })));
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      let all = true;
      for (let i = 0; i < conns.length && all; i++) {
        const subject = `_palf.route.${i}.${Date.now()}`;
        const subs = conns.map((c, j) => (j === i ? undefined : c.subscribe(subject, { max: 1 })));
        await Promise.all(conns.map((c) => c.flush()));
        conns[i]!.publish(subject, "x");
        const got = await Promise.all(
          subs.map(async (s) => {
            if (!s) return true;
            const timer = setTimeout(() => s.unsubscribe(), 300);
            for await (const _ of s) {
              clearTimeout(timer);
              return true;
            }
            return false;
          }),
        );
        all = got.every(Boolean);
      }
      if (all) return;
      if (Date.now() > deadline)
        throw new Error(`nats-server routes between ${urls.join(", ")} did not come up`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await Promise.all(conns.map((c) => c.close()));
  }
}

async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<import("node:net").Server>((resolve, reject) => {
          const s = createServer();
          s.once("error", reject);
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
