/**
 * The "node" backend of the store simulator: three real palfd nodes (PalfNode: shards, WAL, lease hub, GTS,
 * watermarks) in the whole-node simulator, each partition one PALF group and GTS in group 0, reached by every
 * store process through the real client SDK (PalfClient on the process's simulated runtime) and
 * palfKvCluster, the same adapter palfkv uses. Its faults are the node simulator's: palfd crashes and
 * restarts, SIGSTOP pauses, clock jumps within the drift bound, partitions and lossy links between nodes,
 * slow disks and failed fsyncs. The node simulator's own checks (log matching, leases, recovery, disks)
 * judge the PALF side.
 */
import { PalfClient } from "@palf/client";
import type { Prng } from "@palf/core";
import { GTS_GROUP } from "@palf/gts";
import { delay, type KvCluster, type PartitionEntry, palfKvCluster } from "@palf/kv";
import { heal } from "../node-sim/node-chaos.ts";
import { NodeSim } from "../node-sim/node-sim.ts";
import type { SimNetwork, SimTransport } from "../node-sim/sim-network.ts";
import { type SimClient, simClient } from "../node-sim/sim-process.ts";
import type { Proc, SimRuntime, SimScheduler } from "../node-sim/sim-scheduler.ts";
import type { KvSimBackend } from "./kv-sim-backend.ts";

export class NodeKvBackend implements KvSimBackend {
  readonly kind = "node";
  readonly sim: NodeSim;
  readonly sched: SimScheduler;
  readonly net: SimNetwork;
  readonly stats = { appends: 0, lostCommitRecords: 0 };
  private checker: SimClient | undefined;

  constructor(
    seed: number,
    /** The partitions' groups: 1..P, the groups the node simulator creates. */
    readonly groups: readonly number[],
    /** Every replica's commit-info delay (drawn from the seed by the caller unless pinned). */
    readonly commitInfoDelayMs: number,
  ) {
    this.sim = new NodeSim({ seed, nodes: 3, groups: groups.length, replicas: 3, commitInfoDelayMs });
    // GTS lives in group 0, on every machine (created with the others on first boot).
    this.sim.groups.set(GTS_GROUP, [...this.sim.hosts.keys()]);
    this.sched = this.sim.sched;
    this.net = this.sim.net;
  }

  private get nodes(): string[] {
    return [...this.sim.hosts.keys()];
  }

  async start(): Promise<boolean> {
    for (const id of this.nodes) this.sim.start(id);
    const all = [GTS_GROUP, ...this.groups];
    const until = this.sched.now + 30_000;
    while (this.sched.now < until && !all.every((g) => this.sim.leaderOf(g) !== undefined))
      await this.sched.run(this.sched.now + 100);
    return all.every((g) => this.sim.leaderOf(g) !== undefined);
  }

  view(_proc: Proc, rt: SimRuntime, transport: SimTransport): KvCluster {
    const client = new PalfClient(transport, { nodes: this.nodes, runtime: rt }, false);
    const cluster = palfKvCluster(client);
    return {
      ...cluster,
      append: (group, payload, refCsn) => {
        this.stats.appends++;
        return cluster.append(group, payload, refCsn);
      },
    };
  }

  /** Every committed entry of a group, read through a checker client of its own (the scheduler runs meanwhile). */
  async entries(group: number, atLeast: number): Promise<readonly PartitionEntry[]> {
    this.checker ??= simClient(this.sim, "log-checker");
    const cluster = palfKvCluster(this.checker.client);
    let out: PartitionEntry[] | undefined;
    let error: unknown;
    this.sched.at(
      this.sched.now,
      () =>
        void (async () => {
          const all: PartitionEntry[] = [];
          // A replica that answers may lag the one the store read: read on until at least `atLeast`.
          for (let from = 0; ; ) {
            const page = await cluster.read(group, from);
            all.push(...page.entries);
            if (page.next > from) from = page.next;
            else if (from >= atLeast) break;
            else await delay(this.checker!.runtime, 100);
          }
          out = all;
        })().catch((e) => {
          error = e;
        }),
      this.checker.proc,
    );
    const until = this.sched.now + 30_000;
    while (out === undefined && error === undefined && this.sched.now < until)
      await this.sched.run(this.sched.now + 100);
    if (out === undefined)
      throw new Error(
        `the log of group ${group} could not be read: ${String((error as Error)?.message ?? "no answer")}`,
      );
    return out;
  }

  cutOff(_proc: Proc, transport: SimTransport, groups: readonly number[], ms: number): void {
    const links: string[] = [];
    for (const g of groups) {
      const leader = this.sim.leaderOf(g);
      if (leader !== undefined) links.push(`${transport.nodeId}>${leader}`, `${leader}>${transport.nodeId}`);
    }
    const f = this.net.faults;
    for (const l of links) f.episodeCut.add(l);
    this.sched.at(this.sched.now + ms, () => {
      for (const l of links) f.episodeCut.delete(l);
    });
  }

  injectFault(rng: Prng, log: (line: string) => void): void {
    const sim = this.sim;
    const ids = this.nodes;
    const up = ids.filter((id) => sim.up(id));
    const f = this.net.faults;
    const roll = rng.next();
    if (roll < 0.25) {
      if (up.length === 0) return;
      const id = rng.pick(up);
      log(`palfd ${id} crashes`);
      sim.crash(id);
      this.sched.at(this.sched.now + 300 + rng.next() * 2500, () => sim.restart(id));
    } else if (roll < 0.4) {
      if (up.length > 0) sim.pause(rng.pick(up), rng.next() * 2000);
    } else if (roll < 0.5) {
      // Within the bound the lease guard absorbs.
      sim.jumpClock(rng.pick(ids), 1 + rng.next() * 15, false);
    } else if (roll < 0.65) {
      // A partition between two sides of the cluster for a while.
      const side = new Set(ids.filter(() => rng.chance(0.5)));
      const links: string[] = [];
      for (const a of ids) for (const b of ids) if (side.has(a) !== side.has(b)) links.push(`${a}>${b}`);
      log(`nodes partitioned: ${[...side].join(",")} | rest`);
      for (const l of links) f.blocked.add(l);
      this.sched.at(this.sched.now + 500 + rng.next() * 3000, () => {
        if (!sim.healed) for (const l of links) f.blocked.delete(l);
      });
    } else if (roll < 0.8) {
      f.drop = rng.pick([0, 0.01, 0.05]);
      f.duplicate = rng.pick([0, 0.01, 0.05]);
      f.maxDelayMs = rng.pick([1, 3, 10, 50]);
      f.slow = rng.pick([0, 0.01, 0.05]);
      f.slowMs = rng.pick([300, 1500]);
    } else if (roll < 0.9) {
      const host = sim.hosts.get(rng.pick(ids))!;
      host.disk.faults.slow = rng.pick([0, 0.1, 0.5]);
      host.disk.faults.slowMs = rng.pick([50, 300, 1500]);
    } else if (up.length > 1) {
      sim.failNextSync(rng.pick(up));
    }
  }

  heal(): void {
    heal(this.sim);
    for (const id of this.nodes) this.sim.restart(id);
  }

  async finish(): Promise<string[]> {
    this.sim.checkLogs();
    this.sim.checker.finish(false);
    this.sim.collectInfraViolations();
    await this.checker?.close();
    return [...new Set([...this.sim.violations, ...this.sim.checker.violations])];
  }
}
