// How many requests `replaceNode` sends per group, counted at the client's transport: the replace of a dead
// node's replicas is round-trip bound (each group's move is a chain of requests), so the count is its cost.
import { connect, replaceNode } from "@palf/client";
import { decodeRequest, decodeResponse, MemoryTransport } from "@palf/transport";
import { afterEach, describe, expect, it } from "vitest";
import { type MemoryCluster, startMemoryCluster } from "./memory-cluster.test-support.ts";

async function until(what: string, cond: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const clusters: MemoryCluster[] = [];
afterEach(async () => {
  for (const c of clusters.splice(0)) await c.close();
});

/** A client transport that notes the op of every request it sends. */
class CountingTransport extends MemoryTransport {
  readonly ops: string[] = [];
  override request(...args: Parameters<MemoryTransport["request"]>): Promise<Uint8Array> {
    const req = decodeRequest(args[1]);
    this.ops.push("op" in req ? req.op : "bad");
    if (process.env.TRACE_OPS && "op" in req)
      console.info(performance.now().toFixed(0), args[0], JSON.stringify(req).slice(0, 120));
    const out = super.request(...args);
    if (process.env.TRACE_OPS && "op" in req && req.op === "changeConfig")
      void out.then((b) =>
        console.info("answer", req.group, JSON.stringify(decodeResponse(b)).slice(0, 200)),
      );
    return out;
  }
}

describe("replace round trips", () => {
  it("moves a dead member's replica with one look at the group, a create, two changes and a delete; no group loses its leader", {
    timeout: 120_000,
  }, async () => {
    const c = await startMemoryCluster(["n1", "n2", "n3", "n4"]);
    clusters.push(c);
    const groups = Array.from({ length: 12 }, (_, i) => i + 1);
    for (const g of groups) await c.client.createGroup(g, ["n1", "n2", "n3"], { inc: 1 });
    for (const g of groups) await c.client.group(g).append(`x-${g}`);
    await c.nodes.get("n3")!.stop({ transferMs: 0 });
    c.nodes.delete("n3");
    // Groups n3 led elect new leaders first: a change polls a leaderless group (that wait is not counted).
    const m0 = c.client.membership();
    await until("every group led again", async () => {
      const view = await m0.overview(["n1", "n2"]);
      return view.groups.length === groups.length && view.groups.every((g) => g.leader !== null);
    });
    const transport = new CountingTransport({ bus: c.bus, cluster: "t", nodeId: "operator" });
    const client = await connect({
      cluster: "t",
      nodes: ["n1", "n2", "n3", "n4"],
      transport,
      operationTimeoutMs: 60_000,
      requestTimeoutMs: 5_000,
    });
    try {
      const report = await replaceNode(client.membership(), "n3", "n4", { concurrency: 4 });
      expect(report).toMatchObject({ groups: groups.length, replaced: groups.length, failed: [] });
      const count = (op: string) => transport.ops.filter((o) => o === op).length;
      const perGroup = {
        groups: (count("groups") - 4) / groups.length, // less the first overview: one page per node
        createGroup: count("createGroup") / groups.length,
        changeConfig: count("changeConfig") / groups.length,
        deleteGroup: count("deleteGroup") / groups.length,
      };
      console.info(`replace requests per group: ${JSON.stringify(perGroup)}`);
      // One look (a `groups` request to each of the 4 seed nodes), the new replica, add it, remove the dead
      // member (straight to the leader that answered the addition), delete the dead one's replica. A look after
      // each change and before the removal took three more (12 requests) per group; and the leader lost its
      // lease at the switch to {n1, n2, n3, n4} (quorum 3, one dead) until it waited for the new member's grant
      // first: a `changeConfig` answered INDETERMINATE, then polls of a leaderless group, 30-odd per group.
      expect(perGroup.changeConfig).toBe(2);
      expect(perGroup.createGroup).toBe(1);
      expect(perGroup.deleteGroup).toBe(1);
      expect(perGroup.groups).toBeLessThanOrEqual(4);
    } finally {
      await client.close();
    }
  });
});
