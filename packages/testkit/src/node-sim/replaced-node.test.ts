import { changeHolds } from "@palf/core";
import type { RpcRequest, RpcResponse } from "@palf/transport";
import { describe, expect, it } from "vitest";
import { runNodeChaos } from "./node-chaos.ts";
import { NodeSim, SIM_LEASE } from "./node-sim.ts";

/** An admin request through the node's request handler, as its RPC server runs it. */
function handle(sim: NodeSim, node: string, req: RpcRequest): Promise<RpcResponse> {
  return sim.hosts.get(node)!.life!.node!.handle(req);
}

async function settle(sim: NodeSim, p: Promise<RpcResponse>): Promise<RpcResponse> {
  let out: RpcResponse | undefined;
  void p.then((r) => {
    out = r;
  });
  while (out === undefined) await sim.sched.run(sim.sched.now + 50);
  return out;
}

describe("a replaced node that comes back", () => {
  it("learns from a committed config that it left every group and drops its replicas; groups keep n1, n2, n4", {
    timeout: 120_000,
  }, async () => {
    const seed = 7;
    const sim = new NodeSim({ seed, nodes: 3, groups: 2 });
    for (const id of sim.hosts.keys()) sim.start(id);
    await sim.sched.run(SIM_LEASE.leaseMs * 3);
    sim.addHost("n4", true);
    sim.start("n4");
    // n3 dies; the operator adds n4 to every group and removes n3, which nobody can reach to delete.
    sim.crash("n3");
    sim.retired.add("n3");
    for (const g of sim.groups.keys()) {
      await sim.sched.run(sim.sched.now + SIM_LEASE.leaseMs * 3);
      const leader = sim.leaderOf(g);
      expect(leader, `seed ${seed}: group ${g} led`).toBeDefined();
      const members = ["n1", "n2", "n3"];
      const created = await settle(
        sim,
        handle(sim, "n4", { op: "createGroup", group: g, members, learners: ["n4"] }),
      );
      expect(created.ok).toBe(true);
      for (const change of [
        { type: "addMember", id: "n4" },
        { type: "removeMember", id: "n3" },
      ] as const) {
        // As an operator does: look at the leader's config, ask again until the change holds.
        let last: RpcResponse | undefined;
        for (let attempt = 0; attempt < 20; attempt++) {
          const leader = sim.leaderOf(g);
          const r = leader === undefined ? undefined : sim.replicaOn(sim.hosts.get(leader), g);
          if (r !== undefined && r.pendingConfig === undefined && changeHolds(r.log.config, change)) break;
          if (leader !== undefined)
            last = await settle(sim, handle(sim, leader, { op: "changeConfig", group: g, change }));
          await sim.sched.run(sim.sched.now + 500);
        }
        const cfg = sim.replicaOn(sim.hosts.get(sim.leaderOf(g) ?? "n1"), g)!.log.config;
        expect(
          changeHolds(cfg, change),
          `seed ${seed}: group ${g} ${change.type}: ${JSON.stringify(last)}`,
        ).toBe(true);
      }
    }
    // n3 comes back with its old replicas: members in its eyes, so it stands and asks n1 and n2.
    sim.retired.delete("n3");
    sim.restart("n3");
    await sim.sched.run(sim.sched.now + SIM_LEASE.leaseMs * 6);
    const n3 = sim.hosts.get("n3")!.life!.node!;
    for (const g of sim.groups.keys()) {
      expect(n3.replica(g), `seed ${seed}: n3 still hosts group ${g}`).toBeUndefined();
      const leader = sim.leaderOf(g);
      expect(leader).toBeDefined();
      const cfg = sim.replicaOn(sim.hosts.get(leader!), g)!.config;
      expect([...cfg.members].sort()).toEqual(["n1", "n2", "n4"]);
    }
    sim.checkLogs();
    sim.checker.finish(false);
    sim.collectInfraViolations();
    // The checker saw every drop happen on a committed config that names n3 nowhere.
    expect(sim.violations).toEqual([]);
  });

  it("seeded chaos with membership changes and a node replace finds nothing (seeds 2, 3)", {
    timeout: 300_000,
  }, async () => {
    for (const seed of [2, 3]) {
      const r = await runNodeChaos({ seed, membership: "always" });
      expect(r.violations, `pnpm sim:node --seeds 1 --start ${seed} --membership always`).toEqual([]);
      expect(r.configChanges, `seed ${seed}`).toBeGreaterThan(0);
    }
  });
});
