/**
 * Processes other than palf nodes inside the whole-node simulator: a real @palf/client PalfClient (or a store
 * server built on one) on a virtual clock, seeded randomness and the simulated network. Everything it does
 * (timers, backoff, batching turns, RPC timeouts, leadership events) is an event of the simulator's queue, so
 * a seed replays it exactly.
 */
import { type ClientOptions, PalfClient } from "@palf/client";
import { hashSeed, Prng } from "@palf/core";
import type { NodeSim } from "./node-sim.ts";
import type { SimTransport } from "./sim-network.ts";
import { Proc, SimClock, SimRuntime } from "./sim-scheduler.ts";

/** One simulated process on the network: its life, its runtime (clock, timers, randomness), its transport. */
export interface SimProcess {
  readonly id: string;
  /** Set `proc.dead` (and close the transport) to kill it; `proc.pausedUntil` pauses it. */
  readonly proc: Proc;
  readonly runtime: SimRuntime;
  readonly transport: SimTransport;
}

export interface SimProcessOptions {
  /** Max clock rate error of its machine (default 0.005, as the nodes'). */
  readonly drift?: number;
}

/**
 * Starts a process `id` (not a node id) on the network. Its clock and randomness come from a stream of its
 * own, derived from the seed and `id`, so adding a process does not change what the nodes draw.
 */
export function simProcess(sim: NodeSim, id: string, o: SimProcessOptions = {}): SimProcess {
  if (sim.hosts.has(id)) throw new Error(`${id} is a node of the simulated cluster, not a free process id`);
  const rng = new Prng(hashSeed(id, sim.opts.seed));
  const drift = o.drift ?? 0.005;
  const clock = new SimClock(1 + (rng.next() * 2 - 1) * drift, rng.next() * 100_000);
  const proc = new Proc(id);
  const runtime = new SimRuntime(sim.sched, clock, proc, rng);
  return { id, proc, runtime, transport: sim.net.attach(id, proc) };
}

export interface SimClientOptions extends Omit<ClientOptions, "runtime" | "nodes">, SimProcessOptions {
  /** Seed list (default: every machine of the cluster). */
  readonly nodes?: readonly string[];
}

/** A simulated process running the real client SDK; close() ends the client and takes it off the network. */
export interface SimClient extends SimProcess {
  readonly client: PalfClient;
  close(): Promise<void>;
}

/**
 * The real PalfClient inside the simulator: `simClient(sim, "c1").client.group(1).append(...)` runs the SDK's
 * batching, routing and idempotent retries on the simulated clock and network. Its leader-event
 * subscription is live at once (the simulated network has nothing to flush).
 */
export function simClient(sim: NodeSim, id: string, o: SimClientOptions = {}): SimClient {
  const p = simProcess(sim, id, o);
  const { drift: _drift, nodes, ...options } = o;
  const client = new PalfClient(
    p.transport,
    { ...options, nodes: nodes ?? [...sim.hosts.keys()], runtime: p.runtime },
    true,
  );
  return {
    ...p,
    client,
    close: async () => {
      await client.close();
      p.proc.dead = true;
    },
  };
}
