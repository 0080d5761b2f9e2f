import { describe, expect, it } from "vitest";
import { KvError } from "./kv-error.ts";
import { checkPartitionMap, encodePartitionMap, foldCatalog, partitionOf } from "./partition-map.ts";

describe("partition map", () => {
  it("spreads keys over every partition, the same way every time", () => {
    const m = checkPartitionMap({ version: 1, scheme: "hash", groups: [11, 12, 13, 14] });
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) {
      const p = partitionOf(m, `acct-${i}`);
      expect(p).toBe(partitionOf(m, `acct-${i}`));
      seen.add(p);
    }
    expect([...seen].sort()).toEqual([0, 1, 2, 3]);
  });

  it("the catalog's map is the highest version in its log; junk and lower versions are skipped", () => {
    const v1 = encodePartitionMap({ version: 1, scheme: "hash", groups: [1, 2] });
    const v3 = encodePartitionMap({ version: 3, scheme: "hash", groups: [1, 2, 3] });
    const v2 = encodePartitionMap({ version: 2, scheme: "hash", groups: [5] });
    expect(foldCatalog([v1, new Uint8Array([7, 7]), v3, v2])).toEqual({
      version: 3,
      scheme: "hash",
      groups: [1, 2, 3],
    });
    expect(foldCatalog([])).toBeUndefined();
  });

  it("refuses maps with group 0, duplicates or an unknown scheme", () => {
    for (const bad of [
      { version: 1, scheme: "hash", groups: [0, 1] },
      { version: 1, scheme: "hash", groups: [1, 1] },
      { version: 1, scheme: "range", groups: [1] },
      { version: 0, scheme: "hash", groups: [1] },
    ])
      expect(() => checkPartitionMap(bad)).toThrow(KvError);
  });
});
