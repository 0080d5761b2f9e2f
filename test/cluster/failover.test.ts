import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { groupStatus, leaderOf, rpc, until } from "@palf/harness";
import { LocalCluster } from "@palf/palfd/local-cluster";
import { connectNatsTransport, type NatsTransport } from "@palf/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const nodes = ["n1", "n2", "n3"];
const groups = Array.from({ length: 30 }, (_, i) => i + 1);
let dir: string;
let cluster: LocalCluster;
let t: NatsTransport;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-cluster-"));
  cluster = new LocalCluster({ nodes, dataDir: dir, leaseMs: 1000, shards: 2 });
  await cluster.start();
  t = await connectNatsTransport({ cluster: "palf", nodeId: "tester", servers: cluster.natsUrl });
  for (const g of groups)
    for (const n of nodes)
      expect((await rpc(t, n, { op: "createGroup", group: g, members: nodes }, 5000)).ok).toBe(true);
}, 60_000);

afterAll(async () => {
  await t?.close();
  await cluster?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * Appends one entry through whichever node leads its group and returns its LSN once committed. Retries
 * reuse one (session, seq), so a retried append is recognised instead of written twice.
 */
async function appendCommitted(group: number, text: string, alive: readonly string[]): Promise<number> {
  const session = { id: group, seq: Number(text.split("-").at(-1)) };
  for (let attempt = 0; attempt < 100; attempt++) {
    const leader = await leaderOf(t, alive, group, 2000);
    if (leader) {
      const res = await rpc(
        t,
        leader,
        {
          op: "append",
          group,
          items: [{ payload: Buffer.from(text), session }],
        },
        5000,
      );
      if (res.ok && res.op === "append") {
        const r = res.results[0]!;
        if ("lsn" in r) return r.lsn;
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`could not append ${text}`);
}

describe("a real 3-node cluster (nats-server + 3 palfd processes)", () => {
  const acked = new Map<number, Array<{ lsn: number; text: string }>>();

  it("elects a leader for every group and commits appends", async () => {
    await until("every group led", async () =>
      (await Promise.all(groups.map((g) => leaderOf(t, nodes, g, 2000)))).every(Boolean),
    );
    for (const g of groups) {
      const list: Array<{ lsn: number; text: string }> = [];
      for (let i = 1; i <= 10; i++)
        list.push({ lsn: await appendCommitted(g, `g${g}-${i}`, nodes), text: `g${g}-${i}` });
      acked.set(g, list);
    }
  }, 120_000);

  it("after kill -9 of a node, every group is led again and nothing acknowledged is lost", async () => {
    const leaders = await Promise.all(groups.map((g) => leaderOf(t, nodes, g, 2000)));
    const counts = new Map<string, number>();
    for (const l of leaders) if (l) counts.set(l, (counts.get(l) ?? 0) + 1);
    const victim = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
    await cluster.kill(victim);
    const alive = nodes.filter((n) => n !== victim);
    await until("every group led again", async () =>
      (await Promise.all(groups.map((g) => leaderOf(t, alive, g, 2000)))).every(Boolean),
    );
    for (const g of groups) {
      for (let i = 11; i <= 15; i++)
        acked.get(g)!.push({ lsn: await appendCommitted(g, `g${g}-${i}`, alive), text: `g${g}-${i}` });
    }
    // The killed node restarts from its WAL and catches up.
    await cluster.startNode(victim);
    await until("the restarted node caught up", async () => {
      for (const g of groups) {
        const mine = await groupStatus(t, victim, g, 2000);
        const lead = await groupStatus(t, (await leaderOf(t, nodes, g, 2000)) ?? victim, g, 2000);
        if (!mine || !lead || mine.committedEnd < lead.committedEnd) return false;
      }
      return true;
    });
    for (const n of nodes) {
      for (const g of groups) {
        const res = await rpc(t, n, { op: "read", group: g, fromLsn: 0, maxEntries: 1000 }, 5000);
        expect(res.ok, `read group ${g} on ${n}`).toBe(true);
        if (!res.ok || res.op !== "read") continue;
        const byLsn = new Map(res.entries.map((e) => [e.lsn, Buffer.from(e.payload).toString()]));
        for (const a of acked.get(g)!) expect(byLsn.get(a.lsn), `${n} group ${g} lsn ${a.lsn}`).toBe(a.text);
      }
    }
  }, 180_000);

  it("drops malformed peer frames, redirects followers, and rejects unknown groups", async () => {
    for (let i = 0; i < 20; i++) t.send("n2", 0, Buffer.from(`garbage ${i} \u0000\u0001\u00ff`));
    t.send("n2", 1, Buffer.from([1, 0, 0, 0, 9, 1, 2]));
    await t.flush();
    await until("n2 counted the bad frames", async () => {
      const s = await rpc(t, "n2", { op: "status" }, 5000);
      return (
        s.ok &&
        s.op === "status" &&
        (s.status as { transport: { framesRejected: number } }).transport.framesRejected >= 21
      );
    });
    // On a loaded machine a lease may lapse between steps: ask whoever leads group 1 now.
    let leader: string | undefined;
    await until("group 1 led", async () => {
      leader = await leaderOf(t, nodes, 1, 2000);
      return leader !== undefined;
    });
    const follower = nodes.find((n) => n !== leader)!;
    const res = await rpc(
      t,
      follower,
      { op: "append", group: 1, items: [{ payload: Buffer.from("x") }] },
      5000,
    );
    expect(res.ok && res.op === "append" && "error" in res.results[0]! && res.results[0]!.error.code).toBe(
      "NOT_LEADER",
    );
    const unknown = await rpc(
      t,
      leader!,
      {
        op: "append",
        group: 999_999,
        items: [{ payload: Buffer.from("x") }],
      },
      5000,
    );
    expect(
      unknown.ok &&
        unknown.op === "append" &&
        "error" in unknown.results[0]! &&
        unknown.results[0]!.error.code,
    ).toBe("UNKNOWN_GROUP");
    // Still serving after the garbage.
    expect(await appendCommitted(1, "g1-100", nodes)).toBeGreaterThan(0);
  }, 60_000);
});
