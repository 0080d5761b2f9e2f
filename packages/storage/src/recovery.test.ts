// Recovery: index, meta and base rebuilt on open; a torn tail of the newest segment is cut at
// any byte offset; a flipped byte is cut only when it hits the last record of the newest
// segment, and is a CORRUPT error naming file and offset anywhere else. Seeded.
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { WalError } from "./errors.ts";
import { recordSize, viewOf } from "./record-codec.ts";
import { openShardWal, type ShardWal } from "./shard-wal.ts";
import { diffWal, prng, randomSpec, removeDir, specToRecord, tempDir, WalModel } from "./test-support.ts";
import type { WalRecord } from "./types.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

/** A WAL with one segment holding `n` random records, flushed in small batches; closed. */
async function build(seed: number, n: number, segmentBytes = 1 << 20) {
  const dir = tempDir();
  dirs.push(dir);
  const r = prng(seed);
  const wal = await openShardWal(dir, { segmentBytes });
  const records: WalRecord[] = [];
  for (let i = 0; i < n; i++) {
    const rec = specToRecord(randomSpec(r, wal, 4, i, 500));
    wal.submit([rec]);
    records.push(rec);
    if (r.chance(0.3)) await wal.flush();
  }
  await wal.close();
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".seg"))
    .sort();
  return { dir, records, files };
}

/** Start offsets of the records in a segment file (valid records only, up to its end). */
function recordStarts(file: string): number[] {
  const buf = fs.readFileSync(file);
  const view = viewOf(buf);
  const starts: number[] = [];
  for (let at = 0; at < buf.length; at += recordSize(view, at)) starts.push(at);
  return starts;
}

function modelOf(records: WalRecord[]): WalModel {
  const m = new WalModel();
  for (const r of records) m.apply(r);
  return m;
}

async function openError(dir: string, options = {}): Promise<unknown> {
  try {
    const wal = await openShardWal(dir, options);
    await wal.close();
    return undefined;
  } catch (e) {
    return e;
  }
}

describe("recovery", () => {
  it("rebuilds index, meta, base and entries exactly", async () => {
    const { dir, records } = await build(11, 400);
    const wal = await openShardWal(dir, { segmentBytes: 1 << 20 });
    expect(diffWal(wal, modelOf(records))).toBe("");
    await wal.close();
  });

  it("cuts a torn tail at any byte offset and keeps appending after it", async () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
      const { dir, records, files } = await build(100 + seed, 60);
      const file = path.join(dir, files[0]!);
      const starts = recordStarts(file);
      const size = fs.statSync(file).size;
      const r = prng(seed);
      const cutAt = starts[1]! + r.int(size - starts[1]!); // somewhere after the first record
      fs.truncateSync(file, cutAt);
      const complete = starts.filter((_, i) => (starts[i + 1] ?? size) <= cutAt).length;
      const wal: ShardWal = await openShardWal(dir, { segmentBytes: 1 << 20 });
      expect(diffWal(wal, modelOf(records.slice(0, complete))), `seed ${seed} cut at ${cutAt}`).toBe("");
      // The torn bytes are gone from the file, and appends continue from there.
      expect(fs.statSync(file).size).toBe(starts[complete] ?? size);
      wal.submit([{ kind: "meta", group: 77, bytes: Uint8Array.of(seed) }]);
      await wal.close();
      const again = await openShardWal(dir, { segmentBytes: 1 << 20 });
      expect(again.groupState(77)?.meta, `seed ${seed}`).toEqual(Uint8Array.of(seed));
      await again.close();
    }
  });

  it("a flipped byte: cut in the newest segment's last record, CORRUPT anywhere before it", async () => {
    for (const seed of [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]) {
      const { dir, records, files } = await build(200 + seed, 40);
      const file = path.join(dir, files[0]!);
      const starts = recordStarts(file);
      const size = fs.statSync(file).size;
      const r = prng(seed);
      // Half the seeds hit the last record, half anywhere.
      const at = r.chance(0.5) ? starts.at(-1)! + r.int(size - starts.at(-1)!) : r.int(size);
      const buf = fs.readFileSync(file);
      buf[at] = buf[at]! ^ (1 + r.int(255));
      fs.writeFileSync(file, buf);
      const hit = starts.filter((s) => s <= at).length - 1;
      const err = await openError(dir, { segmentBytes: 1 << 20 });
      if (hit === starts.length - 1) {
        expect(err, `seed ${seed} flip at ${at}`).toBeUndefined();
        const wal = await openShardWal(dir, { segmentBytes: 1 << 20 });
        expect(diffWal(wal, modelOf(records.slice(0, hit))), `seed ${seed}`).toBe("");
        await wal.close();
      } else {
        expect(err, `seed ${seed} flip at ${at}`).toBeInstanceOf(WalError);
        expect((err as WalError).code).toBe("CORRUPT");
        expect((err as WalError).file).toBe(file);
        expect((err as WalError).offset, `seed ${seed} flip at ${at}`).toBe(starts[hit]);
        expect((err as WalError).message).toContain(files[0]!);
      }
    }
  });

  it("any damage to a sealed segment is CORRUPT, even at its very end", async () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      const { dir, files } = await build(300 + seed, 150, 8192);
      expect(files.length).toBeGreaterThan(1);
      const r = prng(seed);
      const file = path.join(dir, files[r.int(files.length - 1)]!); // never the newest
      const buf = fs.readFileSync(file);
      if (r.chance(0.5)) {
        // Flip inside the seal record or the record before it.
        const at = buf.length - 1 - r.int(200);
        buf[at] = buf[at]! ^ 0x40;
        fs.writeFileSync(file, buf);
      } else {
        fs.truncateSync(file, buf.length - 1 - r.int(100)); // the seal record (or more) lost
      }
      const err = await openError(dir, { segmentBytes: 8192 });
      expect(err, `seed ${seed}`).toBeInstanceOf(WalError);
      expect((err as WalError).code).toBe("CORRUPT");
      expect((err as WalError).file).toBe(file);
    }
  });

  it("a crash between sealing a segment and creating the next one is not damage", async () => {
    const { dir, records, files } = await build(400, 150, 8192);
    // Remove the newest segment as if it had never been created (after its predecessor's seal).
    const newest = path.join(dir, files.at(-1)!);
    const starts = recordStarts(newest);
    if (starts.length === 0) {
      fs.unlinkSync(newest);
      const wal = await openShardWal(dir, { segmentBytes: 8192 });
      expect(diffWal(wal, modelOf(records))).toBe("");
      await wal.close();
    } else {
      // Its records would be lost: instead check that an empty newest file is tolerated.
      fs.truncateSync(newest, 0);
      const wal = await openShardWal(dir, { segmentBytes: 8192 });
      wal.submit([{ kind: "meta", group: 1, bytes: Uint8Array.of(1) }]);
      await wal.close();
    }
  });
});
