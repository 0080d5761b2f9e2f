import { describe, expect, it } from "vitest";
import { decodeRecord, encodeRecord, type KvRecord } from "./kv-record.ts";

describe("kv record codec", () => {
  it("round-trips prepare, commit and abort records, string and byte values and deletes", () => {
    const rs: KvRecord[] = [
      {
        type: "prepare",
        txnId: "t-1",
        snapshot: 123,
        writes: [
          { key: "a", value: "x" },
          { key: "b", value: new Uint8Array([1, 2, 3]) },
          { key: "c", value: null },
        ],
        primary: 2,
        participants: [1, 2],
      },
      { type: "commit", txnId: "t-1", commitVersion: 456 },
      { type: "abort", txnId: "t-1" },
      { type: "fence" },
    ];
    for (const r of rs) {
      const d = decodeRecord(encodeRecord(r));
      expect(d).toEqual({ ok: true, record: r });
    }
  });

  it("refuses malformed records with a reason instead of throwing", () => {
    const prep = (o: Partial<Record<string, unknown>>): KvRecord =>
      ({
        type: "prepare",
        txnId: "t",
        snapshot: 1,
        writes: [{ key: "a", value: "v" }],
        primary: 1,
        participants: [1],
        ...o,
      }) as KvRecord;
    const cases: Array<[Uint8Array, RegExp]> = [
      [new Uint8Array([]), /too short/],
      [new Uint8Array([2, 0x90]), /version 2/],
      [new Uint8Array([1, 0xc1]), /does not decode|not an array/],
      [encodeRecord(prep({ writes: [] })), /writes 0 keys/],
      [encodeRecord(prep({ primary: 3 })), /primary is not a participant/],
      [encodeRecord(prep({ participants: [2, 1], primary: 1 })), /sorted/],
      [encodeRecord(prep({ writes: [{ key: "a", value: 1 }] })), /value is not/],
      [
        encodeRecord(
          prep({
            writes: [
              { key: "a", value: "1" },
              { key: "a", value: "2" },
            ],
          }),
        ),
        /twice/,
      ],
      [encodeRecord(prep({ snapshot: -1 })), /snapshot/],
      [encodeRecord({ type: "commit", txnId: "", commitVersion: 1 }), /txnId/],
      [encodeRecord({ type: "commit", txnId: "t", commitVersion: 1.5 }), /commitVersion/],
    ];
    for (const [bytes, why] of cases) {
      const d = decodeRecord(bytes);
      expect(d.ok).toBe(false);
      if (!d.ok) expect(d.error).toMatch(why);
    }
  });
});
