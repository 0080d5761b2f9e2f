// A shard on a WAL budget reserves room before it assigns LSNs (storage's ShardWalSpace): a burst of appends
// within one loop turn meets back-pressure instead of a refused WAL batch that takes its groups out of service.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openShardWal, type ShardWal } from "@palf/storage";
import type { AppendOutcomeWire } from "@palf/transport";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { loneShard } from "./lone-shard.test-support.ts";
import type { NodeUnsafeSwitches } from "./node-unsafe.ts";
import type { Shard } from "./shard.ts";
import { until } from "./wait-until.test-support.ts";

const log = pino({ level: "silent" });
const SEGMENT = 8192;
const BUDGET = 6 * SEGMENT;
const dirs: string[] = [];
const wals: ShardWal[] = [];
const shards: Shard[] = [];

afterEach(async () => {
  for (const s of shards.splice(0)) s.stop();
  for (const w of wals.splice(0)) await w.close().catch(() => {});
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function freshWal(): Promise<ShardWal> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-space-"));
  dirs.push(dir);
  const wal = await openShardWal(dir, { segmentBytes: SEGMENT, diskBudgetBytes: BUDGET });
  wals.push(wal);
  return wal;
}

/** One shard of single-member groups (each commits on its own durability) on a small WAL budget. */
async function shardOf(groups: number[], unsafe?: NodeUnsafeSwitches) {
  const wal = await freshWal();
  const { shard, fatal } = await loneShard(wal, log, groups, shards, {
    replica: {
      lease: { leaseMs: 600, renewMs: 100, electionJitterMs: 50, voteWindowMs: 20 },
      maxGroupEntryBytes: 2048,
    },
    diskBudgetBytes: BUDGET,
    ...(unsafe ? { unsafe } : {}),
  });
  return { shard, wal, fatal };
}

const items = (n: number, bytes: number) =>
  Array.from({ length: n }, (_, i) => ({ payload: Buffer.alloc(bytes, i) }));

describe("a shard on a disk budget", () => {
  it("a burst of appends within one loop turn meets back-pressure; no group leaves service", async () => {
    const groups = [1, 2, 3, 4, 5, 6, 7, 8];
    const { shard, wal, fatal } = await shardOf(groups);
    // 8 groups x 40 appends of 200 bytes, all before the next loop turn: about 70 KiB for a 48 KiB budget.
    const outs = (await Promise.all(groups.map((g) => shard.serveAppends(g, items(40, 200))))).flat();
    const codes = new Set(outs.map((o) => ("error" in o ? o.error.code : "ok")));
    expect([...codes].sort()).toEqual(["BACKPRESSURE", "ok"]);
    for (const g of groups) expect(shard.replica(g)!.halted).toBeUndefined();
    expect(fatal).toEqual([]);
    await wal.flush();
    expect(wal.stats().bytesOnDisk).toBeLessThanOrEqual(BUDGET);
    expect(wal.heldBytes).toBe(0);
    expect(shard.stats.noWalRoom).toBeGreaterThan(0);

    // Recycling makes room again: bases advance, the next refusal recycles the WAL, appends go in.
    for (const g of groups) {
      const r = shard.replica(g)!;
      r.advanceBase(r.committedEnd, shard.now());
      shard.touch(g);
    }
    let got: AppendOutcomeWire | undefined;
    for (let i = 0; i < 200 && (got === undefined || "error" in got); i++) {
      got = (await shard.serveAppends(1, items(1, 200)))[0];
      if ("error" in got!) await new Promise((r) => setTimeout(r, 20));
    }
    expect(got).not.toHaveProperty("error");
    for (const g of groups) expect(shard.replica(g)!.halted).toBeUndefined();
  });

  it("without reservations (assignBeyondBudget) the same burst takes groups out of service", async () => {
    const groups = [1, 2, 3, 4, 5, 6, 7, 8];
    const { shard } = await shardOf(groups, { assignBeyondBudget: true });
    // Their results never come (the groups leave service): do not wait for them.
    for (const g of groups) void shard.serveAppends(g, items(40, 200));
    await until("a group out of service", () => groups.some((g) => shard.replica(g)!.halted !== undefined));
    const halted = groups.map((g) => shard.replica(g)!.halted).filter((h) => h !== undefined);
    expect(halted[0]).toMatch(/DISK_FULL/);
  });
});
