// A node that starts on a WAL whose newest segment ends in a torn record says what recovery cut: a pino warning
// naming file, offset and dropped bytes, and the same in its status (tornTails and the shard's wal stats).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { MemoryBus, MemoryTransport } from "@palf/transport";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { PalfNode } from "./palf-node.ts";
import { until } from "./wait-until.test-support.ts";

const dirs: string[] = [];
const nodes: PalfNode[] = [];

afterEach(async () => {
  for (const n of nodes.splice(0)) await n.stop({ transferMs: 0 }).catch(() => {});
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function start(dir: string, lines: Record<string, unknown>[] = []): Promise<PalfNode> {
  const log = pino({ level: "warn" }, { write: (l: string) => void lines.push(JSON.parse(l)) });
  const node = await PalfNode.start({
    nodeId: "n1",
    dataDir: dir,
    transport: new MemoryTransport({ bus: new MemoryBus(), cluster: "t", nodeId: "n1" }),
    log,
    shards: 1,
    replica: { lease: { leaseMs: 600, renewMs: 100, electionJitterMs: 50, voteWindowMs: 20 } },
  });
  nodes.push(node);
  return node;
}

describe("a torn tail at start", () => {
  it("is logged and shown in node status with file, offset and bytes; a clean start shows none", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-torn-"));
    dirs.push(dir);
    const first = await start(dir);
    first.createGroup(1, ["n1"]);
    await until("group 1 led", () => first.groupStatus(1)?.role === "leader");
    expect(first.status().tornTails).toEqual([]);
    await first.stop({ transferMs: 0 });
    nodes.splice(0);

    // A write that never completed: half a record's worth of garbage after the last good record.
    const walDir = path.join(dir, "shard-0");
    const seg = fs
      .readdirSync(walDir)
      .filter((f) => f.endsWith(".seg"))
      .sort()
      .at(-1)!;
    const file = path.join(walDir, seg);
    const goodEnd = fs.statSync(file).size;
    fs.appendFileSync(file, Buffer.alloc(37, 0xab));

    const lines: Record<string, unknown>[] = [];
    const node = await start(dir, lines);
    const cut = { file, offset: goodEnd, droppedBytes: 37 };
    expect(node.status().tornTails).toEqual([{ shard: 0, ...cut }]);
    expect(node.status().wal[0]!.tornTail).toEqual(cut);
    expect(lines).toContainEqual(
      expect.objectContaining({ shard: 0, ...cut, msg: expect.stringContaining("torn tail") }),
    );
    // The group recovered everything before the cut and leads again.
    await until("group 1 led again", () => node.groupStatus(1)?.role === "leader");
  });
});
