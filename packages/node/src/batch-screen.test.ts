import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { openShardWal, type WalRecord } from "@palf/storage";
import { afterEach, describe, expect, it } from "vitest";
import { screenBatch } from "./batch-screen.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const entry = (group: number, lsn: number): WalRecord => ({
  kind: "entry",
  group,
  lsn,
  end: lsn + 10,
  pid: 1,
  bytes: Buffer.from(`g${group}@${lsn}`),
});

describe("screenBatch: one group's bad record never fails the other groups of a shard's WAL batch", () => {
  it("takes out only the bad group; the shard WAL accepts and makes durable the rest", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-screen-"));
    dirs.push(dir);
    const wal = await openShardWal(dir);
    await wal.ensureWritableSegment();
    const batch: WalRecord[] = [
      entry(1, 0),
      entry(2 ** 32, 0), // the record that once halted every group of its batch
      { kind: "meta", group: 2 ** 32, bytes: Buffer.alloc(16) },
      entry(2, 0),
      entry(1, 10),
    ];
    // Unscreened, the WAL refuses the whole batch: every group in it would leave service.
    expect(() => wal.submit(batch)).toThrow(/uint32/);
    const { records, bad } = screenBatch(batch);
    expect([...bad.keys()]).toEqual([2 ** 32]);
    expect(records.map((r) => r.group)).toEqual([1, 2, 1]);
    wal.submit(records);
    await wal.flush();
    expect([...wal.groups()].sort()).toEqual([1, 2]);
    await wal.close();
  });

  it("passes a clean batch through as is", () => {
    const batch = [entry(1, 0), entry(0xffff_ffff, 0)];
    const out = screenBatch(batch);
    expect(out.records).toBe(batch);
    expect(out.bad.size).toBe(0);
  });
});
