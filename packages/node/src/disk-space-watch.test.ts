// The NOSPACE alarm on a real shard and WAL with an injected statfs: WAL room follows the free space, appends
// meet BACKPRESSURE (never a fatal error, never a halted group) while free space is below the reserve, the
// alarm shows in status and is logged, and it clears by itself when space returns.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openShardWal, type ShardWal } from "@palf/storage";
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { DiskSpaceWatch, defaultReserveBytes, type FreeSpace } from "./disk-space-watch.ts";
import { loneShard } from "./lone-shard.test-support.ts";
import { realRuntime } from "./runtime.ts";
import type { Shard } from "./shard.ts";
import { until } from "./wait-until.test-support.ts";

const MiB = 1024 * 1024;
const RESERVE = 4 * MiB;
const dirs: string[] = [];
const wals: ShardWal[] = [];
const shards: Shard[] = [];
const watches: DiskSpaceWatch[] = [];

afterEach(async () => {
  for (const w of watches.splice(0)) w.stop();
  for (const s of shards.splice(0)) s.stop();
  for (const w of wals.splice(0)) await w.close().catch(() => {});
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A shard of single-member groups in free-space mode, with a statfs that answers `disk.free`. */
async function freeSpaceShard(groups: number[]) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-nospace-"));
  dirs.push(dir);
  const wal = await openShardWal(dir, { segmentBytes: 64 * 1024 });
  wals.push(wal);
  const lines: { msg: string; alarm?: unknown }[] = [];
  const log = pino(
    { level: "info" },
    { write: (line: string) => void lines.push(JSON.parse(line) as { msg: string }) },
  );
  const walSpace = wal.room(Number.MAX_SAFE_INTEGER, 0);
  const { shard, fatal } = await loneShard(wal, log, groups, shards, { walSpace });
  const disk: FreeSpace & { free: number } = {
    free: 100 * MiB,
    get freeBytes() {
      return this.free;
    },
    totalBytes: 200 * MiB,
  };
  const watch = new DiskSpaceWatch(
    dir,
    [
      {
        wal,
        space: walSpace,
        refused: () => shard.stats.noWalRoom,
        handLeadershipsAway: () => shard.handLeadershipsAway(),
        leaders: () => shard.leaders().length,
      },
    ],
    "free-space",
    log,
    realRuntime,
    { reserveBytes: RESERVE, intervalMs: 3_600_000, statfs: async () => ({ ...disk }) },
  );
  watches.push(watch);
  await watch.start();
  return { shard, wal, watch, disk, fatal, lines };
}

const payload = (bytes: number) => [{ payload: Buffer.alloc(bytes, 7) }];

describe("the NOSPACE alarm", () => {
  it("refuses appends with BACKPRESSURE below the reserve, raises the alarm, and clears it when space returns", async () => {
    const { shard, watch, disk, fatal, lines } = await freeSpaceShard([1, 2]);
    expect(watch.status()).toMatchObject({ mode: "free-space", alarm: null, reserveBytes: RESERVE });
    expect((await shard.serveAppends(1, payload(1000)))[0]).not.toHaveProperty("error");

    // Someone else fills the disk: less free than the reserve.
    disk.free = RESERVE - 1;
    await watch.tick();
    const refused = (await shard.serveAppends(1, payload(1000)))[0]!;
    expect(refused).toMatchObject({ error: { code: "BACKPRESSURE" } });
    // The shard counts the refusal at the end of its loop turn.
    await until("the refusal counted", () => shard.stats.noWalRoom > 0);
    await watch.tick();
    const status = watch.status();
    expect(status.alarm).toBe("NOSPACE");
    expect(status.alarmSince).toBeTypeOf("number");
    expect(status.freeBytes).toBe(RESERVE - 1);
    expect(status.refusedReservations).toBeGreaterThan(0);
    expect(lines.some((l) => l.alarm === "NOSPACE" && l.msg.startsWith("NOSPACE"))).toBe(true);
    // Back-pressure, not a failure: no group left service and the node did not stop.
    expect(fatal).toEqual([]);
    for (const g of [1, 2]) expect(shard.replica(g)!.halted).toBeUndefined();

    // Space returns (the filler is deleted): the next look clears the alarm and appends go in again.
    disk.free = 100 * MiB;
    await watch.tick();
    // A refusal counted between the two looks keeps it one more tick at most.
    await watch.tick();
    expect(watch.status().alarm).toBeNull();
    expect((await shard.serveAppends(1, payload(1000)))[0]).not.toHaveProperty("error");
    expect(lines.some((l) => l.msg.startsWith("NOSPACE cleared"))).toBe(true);
  });

  it("the free space is the budget: entries stop where it would go under the reserve", async () => {
    const { shard, watch, disk } = await freeSpaceShard([1]);
    // 64 KiB above the reserve: about sixty 1000-byte appends fit, a few hundred do not.
    disk.free = RESERVE + 64 * 1024;
    await watch.tick();
    const outs = await shard.serveAppends(
      1,
      Array.from({ length: 300 }, () => payload(1000)[0]!),
    );
    const ok = outs.filter((o) => !("error" in o)).length;
    expect(ok).toBeGreaterThan(0);
    expect(ok).toBeLessThanOrEqual(64);
    expect(
      outs.filter((o) => "error" in o).every((o) => "error" in o && o.error.code === "BACKPRESSURE"),
    ).toBe(true);
  });

  it("default reserve: a tenth of the filesystem, within [16 MiB, 256 MiB]", () => {
    expect(defaultReserveBytes(64 * MiB)).toBe(16 * MiB);
    expect(defaultReserveBytes(1000 * MiB)).toBe(100 * MiB);
    expect(defaultReserveBytes(100_000 * MiB)).toBe(256 * MiB);
  });
});
