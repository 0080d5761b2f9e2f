import { describe, expect, it } from "vitest";
import { ClusterView } from "./cluster-view.ts";
import type { NodeStatus } from "./palfd-metrics.ts";

/** A node status with the fields the view reads; `appends` and `committed` on its one shard. */
function status(node: string, o: { appends: number; committed: number; leaders: number; gts?: boolean }) {
  return {
    node,
    shards: 1,
    groups: 3,
    leaders: o.leaders,
    halted: 0,
    inflightAppends: 0,
    nodes: ["n1", "n2", "n3"],
    shardStats: [{ appends: o.appends, committed: o.committed, leaderships: o.leaders, elections: 1 }],
    wal: [{ bytesOnDisk: 4096, segments: 1 }],
    disk: null,
    gts: { hosted: true, leader: o.gts === true, server: {} },
    watermarkLagMs: 12,
    lagging: [],
  } as unknown as NodeStatus;
}

describe("ClusterView (the status page's data)", () => {
  it("asks every node named in this node's status, keeps their counters per round, and marks a silent node down", async () => {
    let n1 = 0;
    const view = new ClusterView({
      cluster: "palf",
      self: "n1",
      peers: [],
      local: () => {
        n1 += 100;
        return status("n1", { appends: n1, committed: n1, leaders: 2, gts: true });
      },
      remote: async (node) => {
        if (node === "n3") throw new Error("request to n3 timed out after 1500 ms");
        return status(node, { appends: 50, committed: 50, leaders: 1 });
      },
    });
    await view.sample();
    await view.sample();
    const snap = view.snapshot();
    expect(snap.nodes.map((n) => n.node)).toEqual(["n1", "n2", "n3"]);
    expect(snap.gtsLeader).toBe("n1");
    const [a, b, c] = snap.nodes;
    expect(a!.up && a!.self).toBe(true);
    expect(a!.history.map((p) => p.appends)).toEqual([100, 200]);
    expect(b!.history).toHaveLength(2);
    // Samples of one round share its time, so the page's charts have one x axis.
    expect(b!.history.map((p) => p.t)).toEqual(a!.history.map((p) => p.t));
    expect(b!.summary).toMatchObject({ groups: 3, leaders: 1, walBytes: 4096, watermarkLagMs: 12 });
    expect(c!.up).toBe(false);
    expect(c!.error).toMatch(/timed out/);
    expect(c!.history).toEqual([]);
  });

  it("keeps only keepMs of history per node", async () => {
    const view = new ClusterView({
      cluster: "palf",
      self: "n1",
      peers: [],
      keepMs: 0,
      local: () => status("n1", { appends: 1, committed: 1, leaders: 1 }),
      remote: async () => {
        throw new Error("unused");
      },
    });
    for (let i = 0; i < 5; i++) {
      await view.sample();
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(view.snapshot().nodes[0]!.history.length).toBe(1);
  });
});
