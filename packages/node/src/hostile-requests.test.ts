import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { decodeResponse, encodeRpc, MemoryBus, MemoryTransport, type RpcResponse } from "@palf/transport";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { PalfNode } from "./palf-node.ts";
import { until } from "./wait-until.test-support.ts";

/** Requests any client could send, each of which once crashed a node or halted groups (issue 12). */

const log = pino({ level: "silent" });
const fastLease = {
  lease: { leaseMs: 600, renewMs: 100, electionJitterMs: 100, voteWindowMs: 30 },
  retransmitMs: 100,
};
const dirs: string[] = [];
const nodes: PalfNode[] = [];
const ids = ["n1", "n2", "n3"];

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop({ transferMs: 0 }).catch(() => {});
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function cluster(): Promise<{ all: PalfNode[]; client: MemoryTransport }> {
  const bus = new MemoryBus();
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "palf-hostile-"));
  dirs.push(base);
  const all = await Promise.all(
    ids.map(async (id) => {
      const transport = new MemoryTransport({ bus, cluster: "h", nodeId: id });
      const n = await PalfNode.start({
        nodeId: id,
        dataDir: path.join(base, id),
        transport,
        log,
        shards: 1,
        replica: fastLease,
      });
      nodes.push(n);
      return n;
    }),
  );
  return { all, client: new MemoryTransport({ bus, cluster: "h", nodeId: "client" }) };
}

function leaderOf(all: PalfNode[], group: number): PalfNode | undefined {
  return all.find((n) => n.groupStatus(group)?.role === "leader" && n.groupStatus(group)?.leaseValid);
}

/** Sends raw request bytes the way any NATS client can, and returns the decoded answer and its size. */
async function rpc(
  client: MemoryTransport,
  to: string,
  req: unknown,
  admin = false,
): Promise<{ res: RpcResponse; bytes: number }> {
  const reply = await client.request(to, encodeRpc(req as never), 20_000, { admin });
  return { res: decodeResponse(reply), bytes: reply.length };
}

async function ledGroup(all: PalfNode[], group: number): Promise<string> {
  for (const n of all) n.createGroup(group, ids);
  await until(`a leader of group ${group}`, () => leaderOf(all, group) !== undefined);
  return leaderOf(all, group)!.nodeId;
}

describe("hostile client requests (3 nodes in one process, real WALs)", { timeout: 120_000 }, () => {
  it("a read asking for 4 MB gets a shorter page that fits one frame, says so, and paging reads everything", async () => {
    const { all, client } = await cluster();
    const leader = await ledGroup(all, 5);
    const items = Array.from({ length: 14 }, (_, i) => ({ payload: Buffer.alloc(100 * 1024, i) }));
    const appended = await rpc(client, leader, { op: "append", group: 5, items });
    expect(appended.res.ok).toBe(true);

    const first = await rpc(client, leader, { op: "read", group: 5, fromLsn: 0, maxBytes: 4 * 1024 * 1024 });
    expect(first.bytes).toBeLessThanOrEqual(client.maxFrameBytes);
    if (!first.res.ok || first.res.op !== "read")
      throw new Error(`read failed: ${JSON.stringify(first.res)}`);
    expect(first.res.frameLimited).toBe(true);
    expect(first.res.entries.length).toBeGreaterThan(0);
    expect(first.res.entries.length).toBeLessThan(14);
    expect(first.res.next).toBeLessThan(first.res.committedEnd);

    let seen = first.res.entries.length;
    let from = first.res.next;
    while (seen < 14) {
      const page = await rpc(client, leader, {
        op: "read",
        group: 5,
        fromLsn: from,
        maxBytes: 4 * 1024 * 1024,
      });
      if (!page.res.ok || page.res.op !== "read") throw new Error("read failed");
      expect(page.bytes).toBeLessThanOrEqual(client.maxFrameBytes);
      seen += page.res.entries.length;
      from = page.res.next;
    }
    expect(seen).toBe(14);
  });

  it("a read fence is answered by the group's leader at or above a GTS timestamp; a csn GTS never gave out, the GTS group and a follower are refused", async () => {
    const { all, client } = await cluster();
    const gtsLeader = await ledGroup(all, 0);
    const leader = await ledGroup(all, 8);
    await rpc(client, leader, {
      op: "append",
      group: 8,
      items: [{ payload: Buffer.from("x") }],
    });
    // A GTS timestamp given out before the fence, as a reader's snapshot is (the new GTS leader may not serve yet).
    let s = 0;
    for (let i = 0; s === 0 && i < 400; i++) {
      const { res } = await rpc(client, gtsLeader, { op: "gts", count: 1 });
      if (res.ok && res.op === "gts") s = res.start;
      else await new Promise((r) => setTimeout(r, 50));
    }
    expect(s).toBeGreaterThan(0);
    const { res } = await rpc(client, leader, { op: "fence", group: 8, csn: s });
    expect(res).toMatchObject({ ok: true, op: "fence" });
    const v = res as { w: number; lsn: number };
    expect(v.w).toBeGreaterThanOrEqual(s);
    // The vouch covers the append made before it: the group's log below lsn holds it.
    expect(v.lsn).toBeGreaterThan(0);
    const ahead = await rpc(client, leader, { op: "fence", group: 8, csn: 2 ** 52 });
    expect(ahead.res).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    const gts = await rpc(client, leader, { op: "fence", group: 0, csn: s });
    expect(gts.res).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    const follower = ids.find((id) => id !== leader)!;
    const off = await rpc(client, follower, { op: "fence", group: 8, csn: s });
    expect(off.res).toMatchObject({ ok: false, error: { code: "NOT_LEADER" } });
  });

  it("an append of 30,000 empty items is refused with BAD_REQUEST before anything is appended", async () => {
    const { all, client } = await cluster();
    const leader = await ledGroup(all, 6);
    const before = all.find((n) => n.nodeId === leader)!.groupStatus(6)!;
    const items = Array.from({ length: 30_000 }, () => ({ payload: Buffer.alloc(0) }));
    const { res, bytes } = await rpc(client, leader, { op: "append", group: 6, items });
    expect(bytes).toBeLessThanOrEqual(client.maxFrameBytes);
    expect(res).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    const after = all.find((n) => n.nodeId === leader)!.groupStatus(6)!;
    expect(after.committedEnd).toBe(before.committedEnd);
  });

  it("group ids of 2^32 and more are refused at the edge; no other group leaves service", async () => {
    const { all, client } = await cluster();
    const leader = await ledGroup(all, 7);
    for (const group of [2 ** 32, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
      for (const op of [
        "createGroup",
        "read",
        "append",
        "deleteGroup",
        "status",
        "advanceBase",
        "locate",
        "fence",
      ]) {
        const req = {
          op,
          group,
          members: ids,
          items: [{ payload: Buffer.from("x") }],
          fromLsn: 0,
          lsn: 0,
          csn: 0,
        };
        const { res } = await rpc(client, "n1", req);
        expect(res, `${op} ${group}`).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
      }
      // The node's own API refuses it too (palfd's callers, the simulators).
      expect(() => all[0]!.createGroup(group, ids)).toThrow(/uint32/);
    }
    const { res } = await rpc(client, leader, {
      op: "append",
      group: 7,
      items: [{ payload: Buffer.from("still here") }],
    });
    expect(res.ok).toBe(true);
    expect(all.every((n) => n.groupStatus(7)?.halted === undefined)).toBe(true);
  });

  it("member lists with a node twice are refused with BAD_REQUEST (server side, not only in the SDK)", async () => {
    const { client } = await cluster();
    for (const [members, learners] of [
      [["n1", "n1", "n2"], []],
      [["n1", "n1", "n1", "n2", "n3"], []],
      [["n1", "n2"], ["n2"]],
      [
        ["n1", "n2", "n3"],
        ["n3", "n3"],
      ],
    ] as const) {
      const { res } = await rpc(client, "n1", { op: "createGroup", group: 11, members, learners });
      expect(res, JSON.stringify({ members, learners })).toMatchObject({
        ok: false,
        error: { code: "BAD_REQUEST" },
      });
    }
    expect(nodes[0]!.groupStatus(11)).toBeNull();
  });

  it("counters beyond 2^52 (incarnation, refCsn, session seq, lsn) are refused with BAD_REQUEST", async () => {
    const { client } = await cluster();
    const big = 2 ** 53 - 1;
    const requests = [
      { op: "createGroup", group: 12, members: ids, inc: big },
      { op: "append", group: 12, items: [{ payload: Buffer.from("x"), refCsn: big }] },
      { op: "append", group: 12, items: [{ payload: Buffer.from("x"), session: { id: 1, seq: big } }] },
      { op: "read", group: 12, fromLsn: big },
      { op: "advanceBase", group: 12, lsn: big },
    ];
    for (const req of requests) {
      const { res } = await rpc(client, "n1", req);
      expect(res, JSON.stringify(req)).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    }
  });

  it("admin requests are refused with FORBIDDEN on the client subject and served on the admin subject", async () => {
    const { all, client } = await cluster();
    const leader = await ledGroup(all, 13);
    const other = ids.find((n) => n !== leader)!;
    for (const req of [
      { op: "createGroup", group: 14, members: ids },
      { op: "deleteGroup", group: 13 },
      { op: "advanceBase", group: 13, lsn: 0 },
      { op: "transferLeader", group: 13, target: other },
    ]) {
      const { res } = await rpc(client, leader, req);
      expect(res, req.op).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
    }
    expect(all.every((n) => n.groupStatus(13) !== null && n.groupStatus(14) === null)).toBe(true);
    const { res } = await rpc(client, leader, { op: "createGroup", group: 14, members: ids }, true);
    expect(res).toEqual({ ok: true, op: "createGroup" });
  });
});
