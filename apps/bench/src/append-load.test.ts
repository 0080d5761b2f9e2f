import { describe, expect, it } from "vitest";
import { makeStampedPayload, STAMP_BYTES, sizeOf, stampOf } from "./append-load.ts";

describe("append load payloads", () => {
  it("a --size mix picks every size about evenly, and the same size for the same append number", () => {
    const sizes = [64, 256, 4096];
    const seen = new Map<number, number>();
    for (let i = 0; i < 3000; i++) seen.set(sizeOf(sizes, i), (seen.get(sizeOf(sizes, i)) ?? 0) + 1);
    for (const s of sizes) expect(seen.get(s), `size ${s}`).toBeGreaterThan(800);
    expect(sizeOf(sizes, 1234)).toBe(sizeOf(sizes, 1234));
  });

  it("a payload carries its send time for the readers; other entries and tiny payloads carry none", () => {
    const p = makeStampedPayload(64, 1_800_000_000_123.5);
    expect(p.length).toBe(64);
    expect(stampOf(p)).toBe(1_800_000_000_123.5);
    expect(stampOf(new TextEncoder().encode("somebody else's entry"))).toBeUndefined();
    expect(stampOf(makeStampedPayload(STAMP_BYTES - 1, 5))).toBeUndefined();
  });
});
