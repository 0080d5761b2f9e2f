import { MAX_REF_CSN } from "@palf/core";
import fc from "fast-check";
import { Packr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { APPEND_ANSWER_FORMAT, APPEND_REQUEST_FORMAT } from "./append-wire.ts";
import {
  type AppendItem,
  type AppendOutcomeWire,
  decodeRequest,
  decodeResponse,
  encodeRpc,
  RPC_VERSION,
} from "./rpc-protocol.ts";

const counter = fc.oneof(fc.nat(), fc.constantFrom(0, 2 ** 31, 2 ** 32, 2 ** 52 - 1, 2 ** 52));
const item: fc.Arbitrary<AppendItem> = fc.record(
  {
    payload: fc.uint8Array({ maxLength: 300 }),
    refCsn: fc.oneof(fc.nat(), fc.constantFrom(0, MAX_REF_CSN)),
    session: fc.record({ id: counter, seq: counter }),
    retry: fc.constant(true),
  },
  { requiredKeys: ["payload"] },
);
const answer: fc.Arbitrary<AppendOutcomeWire> = fc.oneof(
  fc.record({ lsn: counter, csn: counter }),
  fc.record(
    {
      error: fc.record(
        {
          code: fc.constantFrom("NOT_LEADER", "BACKPRESSURE", "INDETERMINATE"),
          message: fc.string(),
          leader: fc.string(),
        },
        { requiredKeys: ["code"] },
      ),
    },
    { requiredKeys: ["error"] },
  ),
);
/** A payload decoded as a view compares equal to the plain bytes it was made from. */
const plain = (items: readonly AppendItem[]) =>
  items.map((i) => ({ ...i, payload: Uint8Array.from(i.payload) }));

describe("binary append request and answer", () => {
  it("an append request travels in the binary layout and comes back as the same request", () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 32 - 1 }),
        fc.array(item, { minLength: 1, maxLength: 20 }),
        (group, items) => {
          const bytes = encodeRpc({ op: "append", group, items });
          expect(bytes[0]).toBe(APPEND_REQUEST_FORMAT);
          const back = decodeRequest(bytes) as { op: string; group: number; items: AppendItem[] };
          expect({ ...back, items: plain(back.items) }).toEqual({ op: "append", group, items: plain(items) });
        },
      ),
      { numRuns: 300 },
    );
  });

  it("an append answer travels in the binary layout and comes back as the same answer", () => {
    fc.assert(
      fc.property(fc.array(answer, { maxLength: 30 }), (results) => {
        const bytes = encodeRpc({ ok: true, op: "append", results });
        expect(bytes[0]).toBe(APPEND_ANSWER_FORMAT);
        expect(decodeResponse(bytes)).toEqual({ ok: true, op: "append", results });
      }),
      { numRuns: 300 },
    );
  });

  it("a request the layout cannot carry exactly goes as msgpack, so the node's checks answer it as before", () => {
    const bad: unknown[] = [
      { op: "append", group: -1, items: [{ payload: new Uint8Array(1) }] },
      { op: "append", group: 1, items: [] },
      { op: "append", group: 1, items: [{ payload: "text" }] },
      { op: "append", group: 1, items: [{ payload: new Uint8Array(1), refCsn: 2 ** 53 }] },
      { op: "append", group: 1, items: [{ payload: new Uint8Array(1), session: { id: -1, seq: 0 } }] },
      { op: "append", group: 1, items: [{ payload: new Uint8Array(1), retry: "yes" }] },
    ];
    for (const req of bad) {
      const bytes = encodeRpc(req as never);
      expect(bytes[0]).toBe(RPC_VERSION);
      expect(decodeRequest(bytes)).toHaveProperty("bad");
    }
  });

  it("bad binary requests give a reason, never a throw, and never a well-formed request from junk", () => {
    const good = encodeRpc({
      op: "append",
      group: 7,
      items: [
        { payload: new Uint8Array(20), session: { id: 5, seq: 9 }, refCsn: 3, retry: true },
        { payload: new Uint8Array(3) },
      ],
    });
    for (let n = 0; n < good.length; n++) expect(decodeRequest(good.subarray(0, n))).toHaveProperty("bad");
    const longer = Buffer.concat([good, Buffer.from([0])]);
    expect(decodeRequest(longer)).toEqual({ bad: "bytes after the last append item" });
    const flags = Buffer.from(good);
    flags[9] = 0x80;
    expect(decodeRequest(flags)).toEqual({ bad: "unknown append item flags 128" });
    const count = Buffer.from(good);
    count.writeUInt32BE(0xffffffff, 5);
    expect(decodeRequest(count)).toEqual({ bad: "append request truncated" });
    const refCsn = Buffer.from(good);
    refCsn.writeDoubleBE(MAX_REF_CSN + 1, 10 + 16);
    expect(decodeRequest(refCsn)).toEqual({ bad: "refCsn must be a natural number up to 2^52 - 2^32" });
    const seq = Buffer.from(good);
    seq.writeDoubleBE(0.5, 10 + 8);
    expect(decodeRequest(seq)).toEqual({ bad: "bad session" });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (junk) => {
        const r = decodeRequest(Buffer.concat([Buffer.from([APPEND_REQUEST_FORMAT]), junk]));
        if ("bad" in r) return;
        // Junk that happens to parse is a well-formed append: counters in range, bytes for payloads.
        expect(r.op).toBe("append");
      }),
      { numRuns: 2000 },
    );
  });

  it("a bad binary answer reads as an INTERNAL error, never a throw", () => {
    const good = encodeRpc({
      ok: true,
      op: "append",
      results: [{ lsn: 1, csn: 2 }, { error: { code: "BUSY" } }],
    });
    for (let n = 1; n < good.length; n++) {
      const r = decodeResponse(good.subarray(0, n));
      expect(r.ok).toBe(false);
    }
    const errorBytes = new Packr({ useRecords: false }).pack({ code: "BUSY" });
    expect(Buffer.from(good.subarray(good.length - errorBytes.length)).equals(errorBytes)).toBe(true);
    const junkError = Buffer.from(good);
    junkError[good.length - errorBytes.length] = 0xc1; // a byte msgpack never uses
    const r = decodeResponse(junkError);
    expect(r).toMatchObject({ ok: true, results: [{ lsn: 1, csn: 2 }, { error: { code: "INTERNAL" } }] });
  });
});
