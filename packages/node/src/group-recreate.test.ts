import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { MemoryBus, MemoryTransport, type RpcResponse } from "@palf/transport";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { PalfNode } from "./palf-node.ts";
import { until } from "./wait-until.test-support.ts";

const log = pino({ level: "silent" });
const fastLease = {
  lease: { leaseMs: 300, renewMs: 50, electionJitterMs: 50, voteWindowMs: 20 },
  retransmitMs: 100,
};
const dirs: string[] = [];
const nodes: PalfNode[] = [];

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop({ transferMs: 0 }).catch(() => {});
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function startNode(dir: string): Promise<PalfNode> {
  const transport = new MemoryTransport({ bus: new MemoryBus(), cluster: "t", nodeId: "n1" });
  const node = await PalfNode.start({
    nodeId: "n1",
    dataDir: dir,
    transport,
    log,
    shards: 1,
    replica: fastLease,
  });
  nodes.push(node);
  return node;
}

const led = (node: PalfNode) => () =>
  node.groupStatus(1)?.role === "leader" && node.groupStatus(1)?.leaseValid === true;

async function append(node: PalfNode, text: string): Promise<unknown> {
  const res = (await node.handle({
    op: "append",
    group: 1,
    items: [{ payload: Buffer.from(text) }],
  })) as RpcResponse;
  return res.ok && res.op === "append" ? res.results[0] : res;
}

describe("group deletion and recreation on one node", () => {
  // Regression: a leader took an append (its open group entry waits for the loop turn), then the group was
  // deleted before that turn ran. The turn still ended the deleted replica's turn, which froze the open entry
  // and wrote it to the WAL after the drop record, under the group's id: the recreated group's WAL index then
  // held the old entry, its first own entry was refused (LSN_NOT_FOLLOWING, and every group with records in
  // that batch left service), and a restart would have brought the old entry back inside the new incarnation.
  it("a deleted replica writes nothing after its drop record, even with an append under way", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-recreate-"));
    dirs.push(dir);
    const node = await startNode(dir);
    node.createGroup(1, ["n1"]);
    await until("a leader", led(node));
    expect(await append(node, "old-1")).toMatchObject({ lsn: expect.any(Number) });

    const pending = append(node, "old-2"); // taken at once; its group entry is frozen at the next turn
    expect((await node.handle({ op: "deleteGroup", group: 1 })).ok).toBe(true);
    expect(await pending).toMatchObject({ error: { code: "UNKNOWN_GROUP" } });
    await new Promise((r) => setTimeout(r, 50)); // that turn and its flush run before the group comes back
    node.createGroup(1, ["n1"], [], 1);

    await until("a leader of incarnation 1", led(node));
    expect(node.replica(1)?.inc).toBe(1);
    expect(await append(node, "new-1")).toMatchObject({ lsn: expect.any(Number) });
    expect(node.groupStatus(1)?.halted).toBeUndefined();

    await node.stop({ transferMs: 0 });
    nodes.splice(nodes.indexOf(node), 1);
    const back = await startNode(dir);
    expect(back.replica(1)?.inc).toBe(1);
    await until("a leader after the restart", led(back));
    const read = (await back.handle({ op: "read", group: 1, fromLsn: 0 })) as RpcResponse;
    if (!read.ok || read.op !== "read") throw new Error(`read failed: ${JSON.stringify(read)}`);
    const texts = read.entries.map((e) => Buffer.from(e.payload).toString());
    expect(texts).toEqual(["new-1"]);
  });

  it("createGroup refuses an incarnation other than the one the node hosts (delete it first)", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-recreate-"));
    dirs.push(dir);
    const node = await startNode(dir);
    const create = (inc: number) => node.handle({ op: "createGroup", group: 1, members: ["n1"], inc });
    expect((await create(0)).ok).toBe(true);
    expect((await create(0)).ok).toBe(true); // the same incarnation again: idempotent
    const other = await create(1);
    expect(other).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    expect(node.replica(1)?.inc).toBe(0);
    expect((await node.handle({ op: "deleteGroup", group: 1 })).ok).toBe(true);
    expect((await create(1)).ok).toBe(true);
    expect(node.replica(1)?.inc).toBe(1);
  });
});
