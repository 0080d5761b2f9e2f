// Randomized runs against the reference model: random records of every kind, flushes,
// recycling (copy-forward, segment reuse and deletion) and reopen, with small segments so
// every path runs often. Seeded; a failure names its seed.
import { describe, expect, it } from "vitest";
import { openShardWal, type ShardWal } from "./shard-wal.ts";
import {
  diffWal,
  prng,
  randomSpec,
  removeDir,
  specToRecord,
  tempDir,
  WalModel,
} from "./wal-model.test-support.ts";

const OPTIONS = { segmentBytes: 16 * 1024, lagSegments: 1, copyForwardBytes: 12 * 1024, cacheBytes: 4096 };

async function run(seed: number): Promise<void> {
  const r = prng(seed);
  const dir = tempDir();
  const model = new WalModel();
  let wal: ShardWal = await openShardWal(dir, OPTIONS);
  let copied = 0;
  let deleted = 0;
  try {
    for (let step = 0; step < 1500; step++) {
      const spec = randomSpec(r, wal, 6, step, 2000);
      const rec = specToRecord(spec);
      wal.submit([rec]);
      model.apply(rec);
      if (r.chance(0.2)) {
        // Sometimes two flushes at once: the second must wait and cover the rest.
        const a = wal.flush();
        if (r.chance(0.3)) {
          const more = specToRecord(randomSpec(r, wal, 6, step + 100_000, 300));
          wal.submit([more]);
          model.apply(more);
        }
        const b = wal.flush();
        const [ra, rb] = await Promise.all([a, b]);
        expect(rb.seq).toBeGreaterThanOrEqual(ra.seq);
        expect(wal.durableSeq).toBe(rb.seq);
      }
      if (r.chance(0.03)) {
        const res = await wal.recycle();
        copied += res.copiedGroups.length;
        deleted += res.deletedSegments.length;
      }
      if (r.chance(0.01)) {
        await wal.close();
        wal = await openShardWal(dir, OPTIONS);
        expect(diffWal(wal, model), `seed ${seed} after reopen at step ${step}`).toBe("");
      }
    }
    expect(diffWal(wal, model), `seed ${seed} before reopen`).toBe("");
    // The run must have exercised recycling, or it proves little.
    expect(copied).toBeGreaterThan(0);
    expect(deleted).toBeGreaterThan(0);
    await wal.close();
    wal = await openShardWal(dir, OPTIONS);
    expect(diffWal(wal, model), `seed ${seed} at the end`).toBe("");
  } finally {
    await wal.close().catch(() => {});
    removeDir(dir);
  }
}

describe("random workloads match the reference model", () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`seed ${seed}`, () => run(seed));
  }
});
