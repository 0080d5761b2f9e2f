import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { GtsClient } from "@palf/gts";
import { decodeWatermarks, MemoryBus, MemoryTransport, type RpcResponse } from "@palf/transport";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { PalfNode } from "./palf-node.ts";

const log = pino({ level: "silent" });
const replica = {
  lease: { leaseMs: 600, renewMs: 100, electionJitterMs: 100, voteWindowMs: 30 },
  retransmitMs: 100,
};
const ids = ["n1", "n2", "n3"];
const dirs: string[] = [];
const running: PalfNode[] = [];

afterEach(async () => {
  for (const n of running.splice(0)) await n.stop({ transferMs: 0 }).catch(() => {});
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function cluster(bus: MemoryBus, groups: number[]): Promise<PalfNode[]> {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "palf-gts-"));
  dirs.push(base);
  const all = await Promise.all(
    ids.map((id) =>
      PalfNode.start({
        nodeId: id,
        dataDir: path.join(base, id),
        transport: new MemoryTransport({ bus, cluster: "t", nodeId: id }),
        log,
        replica,
        gts: { watermarkMs: 30 },
      }),
    ),
  );
  running.push(...all);
  for (const n of all) for (const g of [0, ...groups]) n.createGroup(g, ids);
  return all;
}

async function until<T>(
  what: string,
  get: () => T | undefined | Promise<T | undefined>,
  ms = 30_000,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function appendTo(all: PalfNode[], group: number, refCsn: number) {
  return until(`an append to group ${group}`, async () => {
    for (const n of all) {
      const res = (await n.handle({
        op: "append",
        group,
        items: [{ payload: Buffer.from(`x${refCsn}`), refCsn }],
      })) as RpcResponse;
      if (res.ok && res.op === "append" && "lsn" in res.results[0]!) return res.results[0];
    }
    return undefined;
  });
}

describe("GTS and watermarks on real nodes (in-memory transport, real WALs)", () => {
  it("timestamps strictly increase across a GTS leader change; CSNs stay above refCsn; watermarks pass committed CSNs", async () => {
    const bus = new MemoryBus();
    const all = await cluster(bus, [1, 2]);
    const gts = new GtsClient(new MemoryTransport({ bus, cluster: "t", nodeId: "c1" }), { nodes: ids });
    const batches: Array<NonNullable<ReturnType<typeof decodeWatermarks>>> = [];
    new MemoryTransport({ bus, cluster: "t", nodeId: "cdc" }).subscribe("events.watermarks", (_t, p) => {
      const b = decodeWatermarks(p);
      if (b) batches.push(b);
    });

    const seen: number[] = [];
    for (let i = 0; i < 20; i++) seen.push(...(await Promise.all([1, 2, 3].map(() => gts.timestamp()))));
    // Concurrent callers share ranges but get distinct values; callers in sequence see strictly larger ones.
    expect(new Set(seen).size).toBe(seen.length);

    const ref = await gts.timestamp();
    const out = await appendTo(all, 1, ref);
    expect(out!.csn).toBeGreaterThanOrEqual(ref);

    // A watermark above that CSN, vouched for group 1 at an LSN past the entry.
    await until("a watermark covering the append", () =>
      batches.find((b) => {
        for (let i = 0; i < b.groups.length; i += 3)
          if (b.groups[i] === 1 && b.groups[i + 2]! > (out as { lsn: number }).lsn && b.w >= out!.csn)
            return b;
        return undefined;
      }),
    );

    // Stop the GTS leader without handing over: the successor starts above everything served.
    const before = await gts.timestamp();
    const leader = all.find((n) => n.groupStatus(0)?.role === "leader")!;
    await leader.stop({ transferMs: 0 });
    running.splice(running.indexOf(leader), 1);
    const after = await gts.timestamp();
    expect(after).toBeGreaterThan(before);
    // Groups the stopped node led get new leaders, which wait for a fresh GTS floor before taking appends.
    const later = await appendTo(
      all.filter((n) => n !== leader),
      2,
      after,
    );
    expect(later!.csn).toBeGreaterThanOrEqual(after);
  });
});
