import { drainNode, replaceNode } from "@palf/client";
import { afterEach, describe, expect, it } from "vitest";
import { type MemoryCluster, startMemoryCluster, waitFor as until } from "./memory-cluster.test-support.ts";

const clusters: MemoryCluster[] = [];
afterEach(async () => {
  for (const c of clusters.splice(0)) await c.close();
});

async function startCluster(ids: readonly string[]): Promise<MemoryCluster> {
  const c = await startMemoryCluster(ids);
  clusters.push(c);
  return c;
}

const text = (b: Uint8Array) => Buffer.from(b).toString();

describe("membership through the SDK (4 real nodes, in-memory transport)", () => {
  it("adds a learner that follows without voting, promotes, demotes and removes it; every acked append reads back from it", async () => {
    const { nodes, client } = await startCluster(["n1", "n2", "n3", "n4"]);
    const m = client.membership();
    await client.createGroup(7, ["n1", "n2", "n3"], { inc: 1 });
    const g = client.group(7);
    const acked: Array<{ lsn: number; text: string }> = [];
    for (let i = 0; i < 20; i++) acked.push({ ...(await g.append(`a-${i}`)), text: `a-${i}` });

    const added = await m.change(7, { type: "addLearner", id: "n4" });
    expect(added).toMatchObject({ changed: true, config: { members: ["n1", "n2", "n3"], learners: ["n4"] } });
    // A re-run finds the change done and does nothing.
    expect((await m.change(7, { type: "addLearner", id: "n4" })).changed).toBe(false);
    for (let i = 20; i < 30; i++) acked.push({ ...(await g.append(`a-${i}`)), text: `a-${i}` });
    const n4 = nodes.get("n4")!;
    await until("n4 holds every acked append", () =>
      acked.every((a) => n4.replica(7)?.read(a.lsn) !== undefined),
    );
    for (const a of acked) expect(text(n4.replica(7)!.read(a.lsn)!.payload)).toBe(a.text);
    expect(n4.replica(7)!.role).toBe("follower");

    const promoted = await m.change(7, { type: "promoteLearner", id: "n4" });
    expect(promoted.config).toMatchObject({ members: ["n1", "n2", "n3", "n4"], learners: [], replicaNum: 4 });
    const five = await m.change(7, { type: "setReplicaNum", replicaNum: 5 });
    expect(five.config.replicaNum).toBe(5);
    await expect(m.change(7, { type: "setReplicaNum", replicaNum: 2 })).rejects.toMatchObject({
      code: "BAD_REQUEST",
    });
    expect((await m.change(7, { type: "setReplicaNum", replicaNum: 4 })).config.replicaNum).toBe(4);
    const demoted = await m.change(7, { type: "demoteMember", id: "n4" });
    expect(demoted.config).toMatchObject({ members: ["n1", "n2", "n3"], learners: ["n4"], replicaNum: 3 });
    const removed = await m.change(7, { type: "removeLearner", id: "n4" });
    expect(removed.config.learners).toEqual([]);
    await until("n4's replica is deleted", () => n4.replica(7) === undefined);
    // The group still commits with its old members.
    expect((await g.append("after")).lsn).toBeGreaterThan(acked.at(-1)!.lsn);
  });

  it("replaces a stopped member: add the new node, remove the dead one (moving leadership off it first when it leads)", async () => {
    const { nodes, client } = await startCluster(["n1", "n2", "n3", "n4"]);
    const m = client.membership();
    await client.createGroup(8, ["n1", "n2", "n3"], { inc: 1 });
    const g = client.group(8);
    const acked: Array<{ lsn: number; text: string }> = [];
    for (let i = 0; i < 10; i++) acked.push({ ...(await g.append(`b-${i}`)), text: `b-${i}` });
    // Removing the leader itself hands leadership over first.
    const lead = (await m.group(8))!.leader!;
    const left = await m.change(8, { type: "removeMember", id: lead });
    expect(left.config.members).not.toContain(lead);
    expect(left.config.members).toHaveLength(2);
    const back = await m.change(8, { type: "addMember", id: lead });
    expect(back.config.members).toContain(lead);

    await nodes.get("n3")!.stop({ transferMs: 0 });
    nodes.delete("n3");
    await m.change(8, { type: "addMember", id: "n4" }, { timeoutMs: 60_000 });
    const done = await m.change(8, { type: "removeMember", id: "n3" }, { timeoutMs: 60_000 });
    expect([...done.config.members].sort()).toEqual(["n1", "n2", "n4"]);
    for (let i = 10; i < 15; i++) acked.push({ ...(await g.append(`b-${i}`)), text: `b-${i}` });
    const n4 = nodes.get("n4")!;
    await until("n4 holds every acked append", () =>
      acked.every((a) => n4.replica(8)?.read(a.lsn) !== undefined),
    );
    for (const a of acked) expect(text(n4.replica(8)!.read(a.lsn)!.payload)).toBe(a.text);
    const view = await m.overview(["n1", "n2", "n4"]);
    expect(view.groups.find((x) => x.group === 8)).toMatchObject({
      members: expect.arrayContaining(["n1", "n2", "n4"]),
    });
  });
});

describe("moving every replica off a node (SDK)", () => {
  it("drain moves every replica and leadership off a live node; replace then moves them back, and re-runs find nothing left", async () => {
    const { nodes, client } = await startCluster(["n1", "n2", "n3", "n4"]);
    const m = client.membership();
    const groups = [1, 2, 3, 4, 5, 6];
    for (const g of groups) await client.createGroup(g, ["n1", "n2", "n3"], { inc: 1 });
    for (const g of groups) await client.group(g).append(`x-${g}`);
    // The groups RPC pages: following `next` visits every group once, in order.
    const paged: number[] = [];
    for (let from: number | null = 0; from !== null; ) {
      const r = await nodes.get("n2")!.handle({ op: "groups", fromGroup: from, limit: 4 });
      if (!r.ok || r.op !== "groups") throw new Error(JSON.stringify(r));
      expect(r.groups.length).toBeLessThanOrEqual(4);
      paged.push(...r.groups.map((x) => x.group));
      from = r.next;
    }
    expect(paged).toEqual(groups);
    const progress: number[] = [];
    const drained = await drainNode(m, "n1", ["n2", "n3", "n4"], {
      concurrency: 3,
      onProgress: (d) => progress.push(d),
    });
    expect(drained).toMatchObject({ groups: 6, replaced: 6, failed: [] });
    expect(progress).toEqual([1, 2, 3, 4, 5, 6]);
    const view = await m.overview();
    for (const g of view.groups) {
      expect([...g.members].sort()).toEqual(["n2", "n3", "n4"]);
      expect(g.leader).not.toBe("n1");
    }
    await until("n1 hosts no replica", () => groups.every((g) => nodes.get("n1")!.replica(g) === undefined));
    expect(await drainNode(m, "n1", ["n2", "n3", "n4"])).toMatchObject({
      groups: 0,
      replaced: 0,
      failed: [],
    });

    const back = await replaceNode(m, "n4", "n1");
    expect(back).toMatchObject({ groups: 6, replaced: 6, failed: [] });
    for (const g of groups) expect((await client.group(g).append(`y-${g}`)).lsn).toBeGreaterThan(0);
    for (const g of groups) {
      const o = await m.group(g);
      expect([...o!.members].sort()).toEqual(["n1", "n2", "n3"]);
    }
  });
});
