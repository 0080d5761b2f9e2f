import { describe, expect, it } from "vitest";
import { decodeWatermarks, encodeWatermarks, type WatermarkBatch } from "./watermark-batch.ts";

const batch = (over: Partial<WatermarkBatch>): WatermarkBatch => ({
  node: "n1",
  boot: 77,
  seq: 2,
  base: 1,
  w: 5,
  groups: [1, 1, 10, 5],
  ...over,
});

describe("watermark batches", () => {
  it("round-trip: full and delta batches, held (-1) and gone (-2) groups", () => {
    const full = batch({
      seq: 7,
      base: 0,
      w: 1_795_000_000_000_000,
      groups: [1, 3, 4096, 1_794_999_000_000_000, 2, 1, -1, 0],
    });
    expect(decodeWatermarks(encodeWatermarks(full))).toEqual(full);
    const delta = batch({ seq: 8, base: 7, groups: [4, 2, -2, 0] });
    expect(decodeWatermarks(encodeWatermarks(delta))).toEqual(delta);
  });

  it("rejects malformed input instead of throwing", () => {
    const good = encodeWatermarks(batch({}));
    expect(decodeWatermarks(good)).toBeDefined();
    expect(decodeWatermarks(new Uint8Array([9, ...good.subarray(1)]))).toBeUndefined();
    expect(decodeWatermarks(good.subarray(0, good.length - 2))).toBeUndefined();
    expect(decodeWatermarks(encodeWatermarks(batch({ groups: [1, 1, 10] })))).toBeUndefined();
    expect(decodeWatermarks(encodeWatermarks(batch({ groups: [1, 1, -3, 5] })))).toBeUndefined();
    expect(decodeWatermarks(encodeWatermarks(batch({ w: -5 })))).toBeUndefined();
    // A delta must extend an earlier batch.
    expect(decodeWatermarks(encodeWatermarks(batch({ seq: 3, base: 3 })))).toBeUndefined();
    expect(decodeWatermarks(new Uint8Array(0))).toBeUndefined();
  });
});
