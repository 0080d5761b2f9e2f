import { describe, expect, it } from "vitest";
import { decodeWatermarks, encodeWatermarks } from "./watermark-batch.ts";

describe("watermark batches", () => {
  it("round-trip, with held groups (lsn -1)", () => {
    const b = {
      node: "n1",
      seq: 7,
      w: 1_795_000_000_000_000,
      groups: [1, 3, 4096, 1_794_999_000_000_000, 2, 1, -1, 0],
    };
    expect(decodeWatermarks(encodeWatermarks(b))).toEqual(b);
  });

  it("rejects malformed input instead of throwing", () => {
    const good = encodeWatermarks({ node: "n1", seq: 1, w: 5, groups: [1, 1, 10, 5] });
    expect(decodeWatermarks(new Uint8Array([9, ...good.subarray(1)]))).toBeUndefined();
    expect(decodeWatermarks(good.subarray(0, good.length - 2))).toBeUndefined();
    expect(
      decodeWatermarks(encodeWatermarks({ node: "n1", seq: 1, w: 5, groups: [1, 1, 10] })),
    ).toBeUndefined();
    expect(
      decodeWatermarks(encodeWatermarks({ node: "n1", seq: 1, w: 5, groups: [1, 1, -2, 5] })),
    ).toBeUndefined();
    expect(decodeWatermarks(encodeWatermarks({ node: "n1", seq: 1, w: -5, groups: [] }))).toBeUndefined();
    expect(decodeWatermarks(new Uint8Array(0))).toBeUndefined();
  });
});
