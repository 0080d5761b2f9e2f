// Room a host reserved ahead of submitting (held through the WAL's room): every budget check counts it as
// queued, and `projectedBytes` is exactly what the submit check compares with the budget.
import { afterEach, describe, expect, it } from "vitest";
import { recordBytes } from "./disk-budget.ts";
import { openShardWal, type ShardWal } from "./shard-wal.ts";
import type { WalRecord } from "./types.ts";
import { payloadFor, removeDir, tempDir } from "./wal-model.test-support.ts";

const SEG = 8192;
const BUDGET = 4 * SEG;
const dirs: string[] = [];
const open: ShardWal[] = [];

async function fresh(): Promise<ShardWal> {
  const dir = tempDir();
  dirs.push(dir);
  const wal = await openShardWal(dir, { segmentBytes: SEG, diskBudgetBytes: BUDGET });
  open.push(wal);
  return wal;
}

afterEach(async () => {
  for (const w of open.splice(0)) await w.close().catch(() => {});
  for (const d of dirs.splice(0)) removeDir(d);
});

const entry = (lsn: number, length = 300): WalRecord => ({
  kind: "entry",
  group: 1,
  lsn,
  end: lsn + length,
  pid: 1,
  bytes: payloadFor(1, lsn, 1, 0, length),
});

describe("held bytes", () => {
  it("projectedBytes grows by exactly what a submit adds", async () => {
    const wal = await fresh();
    expect(wal.budgetBytes).toBe(BUDGET);
    const before = wal.projectedBytes(0);
    const records: WalRecord[] = [
      entry(0),
      { kind: "meta", group: 1, bytes: new Uint8Array(16) },
      entry(300),
    ];
    const adding = records.reduce((n, r) => n + recordBytes(r), 0);
    expect(wal.projectedBytes(adding)).toBe(before + adding);
    wal.submit(records);
    expect(wal.projectedBytes(0)).toBe(before + adding);
    await wal.flush();
    expect(wal.projectedBytes(0)).toBe(before + adding);
  });

  it("a submit of entries fails DISK_FULL when held room leaves none; control records still go", async () => {
    const wal = await fresh();
    const e = entry(0);
    const room = wal.room(Number.MAX_SAFE_INTEGER, 0);
    const held = BUDGET - wal.projectedBytes(0) - recordBytes(e) + 1;
    expect(room.reserve(held, false)).toBe(true);
    expect(wal.heldBytes).toBe(held);
    expect(() => wal.submit([e])).toThrow(/DISK_FULL/);
    wal.submit([{ kind: "meta", group: 1, bytes: new Uint8Array(16) }]);
    // The host gives back what it held: the same entry fits.
    room.release(held);
    expect(wal.heldBytes).toBe(0);
    wal.submit([e]);
    await wal.flush();
    expect(wal.readEntry(1, 0)).toEqual((e as { bytes: Uint8Array }).bytes);
  });

  it("copy-forward leaves held room alone", async () => {
    for (const hold of [false, true]) {
      const dir = tempDir();
      dirs.push(dir);
      // Group 2 sits idle in the oldest segment while group 1 fills later ones and recycles behind itself
      // (nothing is copied forward yet: no segment lags far enough behind).
      let wal = await openShardWal(dir, { segmentBytes: SEG, diskBudgetBytes: BUDGET, lagSegments: 10 });
      wal.submit([{ kind: "meta", group: 2, bytes: new Uint8Array(16) }]);
      let lsn = 0;
      for (let i = 0; i < 40; i++) {
        wal.submit([entry(lsn)]);
        lsn += 300;
        if (i % 5 === 4) {
          wal.submit([{ kind: "base", group: 1, lsn: lsn - 300, bytes: new Uint8Array(0) }]);
          await wal.flush();
        }
      }
      await wal.close();
      wal = await openShardWal(dir, { segmentBytes: SEG, diskBudgetBytes: BUDGET, lagSegments: 1 });
      open.push(wal);
      expect(wal.oldestSegmentHolders().groups).toContain(2);
      // Holding all but a sliver of the budget: copying group 2 forward would need more than that.
      if (hold) wal.room(Number.MAX_SAFE_INTEGER, 0).reserve(BUDGET - wal.projectedBytes(0) - 10, false);
      const { copiedGroups } = await wal.recycle();
      expect(copiedGroups, hold ? "held" : "not held").toEqual(hold ? [] : [2]);
      expect(wal.projectedBytes(0)).toBeLessThanOrEqual(BUDGET);
    }
  });
});
