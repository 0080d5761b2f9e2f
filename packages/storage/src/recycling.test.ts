// Recycling and the disk budget: segments freed by base advancement are deleted (or reused),
// a lagging or idle group is copied forward so it stops pinning old segments, DISK_FULL.
import fs from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { WalError } from "./errors.ts";
import { openShardWal, type ShardWal } from "./shard-wal.ts";
import type { WalRecord } from "./types.ts";
import { payloadFor, removeDir, tempDir } from "./wal-model.test-support.ts";

const SEG = 8192;
const dirs: string[] = [];
const open: ShardWal[] = [];

async function fresh(options = {}): Promise<ShardWal> {
  const dir = tempDir();
  dirs.push(dir);
  const wal = await openShardWal(dir, { segmentBytes: SEG, lagSegments: 1, ...options });
  open.push(wal);
  return wal;
}

async function reopen(wal: ShardWal, options = {}): Promise<ShardWal> {
  await wal.close();
  const again = await openShardWal(wal.dir, { segmentBytes: SEG, lagSegments: 1, ...options });
  open.push(again);
  return again;
}

afterEach(async () => {
  for (const w of open.splice(0)) await w.close().catch(() => {});
  for (const d of dirs.splice(0)) removeDir(d);
});

function entry(group: number, lsn: number, length = 200): WalRecord {
  return {
    kind: "entry",
    group,
    lsn,
    end: lsn + length,
    pid: 1,
    bytes: payloadFor(group, lsn, 1, 0, length),
  };
}

/** Appends `n` entries of 200 bytes to `group` from `from`, one flush per 4 entries. */
async function append(wal: ShardWal, group: number, from: number, n: number): Promise<number> {
  let lsn = from;
  for (let i = 0; i < n; i++) {
    wal.submit([entry(group, lsn)]);
    lsn += 200;
    if (i % 4 === 3) await wal.flush();
  }
  await wal.flush();
  return lsn;
}

function segmentFiles(wal: ShardWal): string[] {
  return fs.readdirSync(wal.dir).filter((f) => f.endsWith(".seg"));
}

describe("recycling", () => {
  it("segments below every group's base are deleted; the rest stays readable", async () => {
    const wal = await fresh();
    const end = await append(wal, 1, 0, 200); // ~50 KB: several segments
    expect(wal.stats().segments).toBeGreaterThan(4);
    const before = wal.stats().bytesOnDisk;
    wal.submit([{ kind: "base", group: 1, lsn: end - 2000, bytes: Uint8Array.of(1) }]);
    const res = await wal.recycle();
    expect(res.deletedSegments.length).toBeGreaterThan(2);
    expect(wal.stats().bytesOnDisk).toBeLessThan(before);
    expect(segmentFiles(wal)).toHaveLength(wal.stats().segments);
    const again = await reopen(wal);
    expect(again.groupState(1)?.entries[0]?.lsn).toBe(end - 2000);
    expect(again.readEntry(1, end - 200)).toEqual((entry(1, end - 200) as { bytes: Uint8Array }).bytes);
  });

  it("an idle group is copied forward so its old segment can go; its state survives", async () => {
    let wal = await fresh();
    wal.submit([
      { kind: "meta", group: 9, bytes: Uint8Array.of(4, 2) },
      { kind: "base", group: 9, lsn: 100, bytes: Uint8Array.of(7) },
      entry(9, 100),
    ]);
    await wal.flush();
    const firstGen = wal.oldestSegmentHolders().generation;
    // A busy group writes many segments and keeps trimming its log.
    let lsn = 0;
    for (let round = 0; round < 8; round++) {
      lsn = await append(wal, 1, lsn, 20);
      wal.submit([{ kind: "base", group: 1, lsn, bytes: new Uint8Array(0) }]);
      await wal.flush();
    }
    // Segments are only deleted oldest-first: without copy-forward the idle group would pin
    // the first one, and with it every later one.
    await wal.recycle();
    const res = await wal.recycle();
    expect(res.copiedGroups).not.toContain(1);
    expect(wal.oldestSegmentHolders().generation).toBeGreaterThan(firstGen);
    expect(segmentFiles(wal)).not.toContain(`wal-${String(firstGen).padStart(10, "0")}.seg`);
    expect(segmentFiles(wal).length).toBeLessThanOrEqual(3);
    wal = await reopen(wal);
    expect(wal.groupState(9)).toEqual({
      meta: Uint8Array.of(4, 2),
      base: { lsn: 100, bytes: Uint8Array.of(7) },
      entries: [{ lsn: 100, end: 300, pid: 1 }],
      end: 300,
    });
    expect(wal.readEntry(9, 100)).toEqual((entry(9, 100) as { bytes: Uint8Array }).bytes);
  });

  it("reports the groups holding the oldest segment", async () => {
    const wal = await fresh({ lagSegments: 100 });
    wal.submit([{ kind: "meta", group: 3, bytes: Uint8Array.of(1) }, entry(4, 0)]);
    await wal.flush();
    await append(wal, 5, 0, 100);
    expect(wal.oldestSegmentHolders().groups).toEqual([3, 4, 5]);
    wal.submit([{ kind: "drop-group", group: 4 }]);
    await wal.flush();
    expect(wal.oldestSegmentHolders().groups).toEqual([3, 5]);
  });

  it("a dropped group frees its segments", async () => {
    const wal = await fresh();
    await append(wal, 1, 0, 100);
    const segments = wal.stats().segments;
    wal.submit([{ kind: "drop-group", group: 1 }]);
    const res = await wal.recycle();
    expect(res.deletedSegments).toHaveLength(segments - 1);
    expect(wal.stats().segments).toBe(1);
  });

  it("freed segments are reused at rollover: the file count stays bounded", async () => {
    const wal = await fresh();
    let lsn = 0;
    const seen = new Set<string>();
    for (let round = 0; round < 30; round++) {
      lsn = await append(wal, 1, lsn, 12);
      wal.submit([{ kind: "base", group: 1, lsn: lsn - 400, bytes: new Uint8Array(0) }]);
      await wal.flush();
      for (const f of segmentFiles(wal)) seen.add(f);
      expect(segmentFiles(wal).length).toBeLessThanOrEqual(3);
    }
    expect(seen.size).toBeGreaterThan(10); // generations kept moving on
  });
});

describe("disk budget", () => {
  it("DISK_FULL refuses entries without losing anything; recycling makes room again", async () => {
    let wal = await fresh({ diskBudgetBytes: 4 * SEG });
    let lsn = 0;
    let full: unknown;
    for (let i = 0; i < 1000 && full === undefined; i++) {
      try {
        wal.submit([entry(1, lsn)]);
        lsn += 200;
        if (i % 4 === 3) await wal.flush();
      } catch (e) {
        full = e;
      }
    }
    expect(full).toBeInstanceOf(WalError);
    expect((full as WalError).code).toBe("DISK_FULL");
    await wal.flush();
    expect(wal.stats().bytesOnDisk).toBeLessThanOrEqual(4 * SEG);
    // Control records are still accepted, so a full WAL can be trimmed.
    wal.submit([{ kind: "meta", group: 1, bytes: Uint8Array.of(1) }]);
    expect(() => wal.submit([entry(1, lsn)])).toThrow(/DISK_FULL/);
    // Everything accepted before is intact.
    wal = await reopen(wal, { diskBudgetBytes: 4 * SEG });
    expect(wal.groupState(1)?.end).toBe(lsn);
    for (let l = 0; l < lsn; l += 200)
      expect(wal.readEntry(1, l)).toEqual((entry(1, l) as { bytes: Uint8Array }).bytes);
    expect(() => wal.submit([entry(1, lsn)])).toThrow(/DISK_FULL/);
    wal.submit([{ kind: "base", group: 1, lsn: lsn - 1000, bytes: new Uint8Array(0) }]);
    await wal.recycle();
    wal.submit([entry(1, lsn)]);
    await wal.flush();
    expect(wal.readEntry(1, lsn)).toEqual((entry(1, lsn) as { bytes: Uint8Array }).bytes);
  });
});
