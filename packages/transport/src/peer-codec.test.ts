import { isLiveness, type Message, messageProblem } from "@palf/core";
import fc from "fast-check";
import { Packr, Unpackr } from "msgpackr";
import { describe, expect, it } from "vitest";
import { base, groupEntry, messageArb, oneOfEach, pushOf } from "./messages.test-support.ts";
import {
  DEFAULT_MAX_FRAME_BYTES,
  type DecodedBatch,
  decodeFrame,
  encodeBatches,
  FrameTooLargeError,
  livenessFirst,
  PEER_FRAME_VERSION,
} from "./peer-codec.ts";
import { RUN_CODE, TYPE_CODES } from "./wire-schema.ts";

const decodeAll = (frames: readonly Uint8Array[]): DecodedBatch => {
  const out: DecodedBatch = { messages: [], rejected: [] };
  for (const f of frames) {
    const d = decodeFrame(f);
    out.messages.push(...d.messages);
    out.rejected.push(...d.rejected);
  }
  return out;
};

/** Builds a frame by hand, for inputs a correct encoder never produces. */
function craft(
  strings: unknown,
  tuples: unknown,
  bodies: Uint8Array = new Uint8Array(0),
  version = PEER_FRAME_VERSION,
): Buffer {
  const head = new Packr({ useRecords: false }).pack([strings, tuples]);
  const prefix = Buffer.alloc(5);
  prefix[0] = version;
  prefix.writeUInt32BE(head.length, 1);
  return Buffer.concat([prefix, head, bodies]);
}

const vote = oneOfEach[0]!;
const ACK = TYPE_CODES.indexOf("ack");
/** One ok ack in a run: group, inc, then pid, ok, end, committedEnd, retryFrom, promised. */
const ackFlat = (group: unknown, end: unknown = 500) => [group, 1, 3, true, end, 400, 0, 3];
const ackOf = (group: number, end = 500): Message => ({
  type: "ack",
  group,
  inc: 1,
  from: "n2",
  to: "n1",
  pid: 3,
  ok: true,
  end,
  committedEnd: 400,
  retryFrom: 0,
  promised: 3,
});
/** The tuples of a frame's head. */
const tuplesOf = (frame: Uint8Array): unknown[][] =>
  (
    new Unpackr({ useRecords: false }).unpack(frame.subarray(5, 5 + Buffer.from(frame).readUInt32BE(1))) as [
      unknown,
      unknown[][],
    ]
  )[1];
const commitTuple = (committedEnd: unknown) => [10, 7, 1, 0, 1, 2, 439, 2, committedEnd];

describe("peer codec round trip", () => {
  it("carries one message of every type unchanged", () => {
    expect(new Set(oneOfEach.map((m) => m.type))).toEqual(new Set(TYPE_CODES));
    const frames = encodeBatches(oneOfEach);
    expect(frames).toHaveLength(1);
    expect(frames[0]![0]).toBe(PEER_FRAME_VERSION);
    const { messages, rejected } = decodeFrame(frames[0]!);
    expect(rejected).toEqual([]);
    expect(messages).toEqual(oneOfEach);
    // Absent optional fields stay absent (exactOptionalPropertyTypes readers check `"base" in m`).
    expect("base" in messages[9]!).toBe(false);
  });

  it("carries random batches unchanged, in liveness-first order, every frame under the limit", () => {
    fc.assert(
      fc.property(
        fc.array(messageArb, { maxLength: 60 }),
        fc.integer({ min: 4096, max: 64 * 1024 }),
        (batch, maxBytes) => {
          const frames = encodeBatches(batch, maxBytes);
          for (const f of frames) expect(f.length).toBeLessThanOrEqual(maxBytes);
          const { messages, rejected } = decodeAll(frames);
          expect(rejected).toEqual([]);
          expect(messages).toEqual(livenessFirst(batch));
          for (const m of messages) expect(messageProblem(m)).toBeUndefined();
        },
      ),
      { numRuns: 300 },
    );
  });

  it("copies bodies out of the frame by default, or hands out views on request", () => {
    const [frame] = encodeBatches([pushOf(1, 3, 256)]);
    const copied = decodeFrame(frame!).messages[0] as Extract<Message, { type: "push" }>;
    const viewed = decodeFrame(frame!, { bodies: "view" }).messages[0] as Extract<Message, { type: "push" }>;
    for (const e of copied.entries) {
      expect(e.body.buffer).not.toBe(frame!.buffer);
      expect(e.body.byteLength).toBe(e.body.buffer.byteLength); // not a slice of a shared pool either
    }
    for (const e of viewed.entries) expect(e.body.buffer).toBe(frame!.buffer);
    expect(viewed.entries).toEqual(copied.entries);
  });
});

describe("peer codec batching", () => {
  it("puts liveness messages first, also across frames", () => {
    const bulk = Array.from({ length: 40 }, (_, g) => pushOf(g, 2, 1000));
    const votes = Array.from({ length: 30 }, (_, g): Message => ({ ...vote, group: g }) as Message);
    const mixed = bulk.flatMap((p, i) => (votes[i] ? [p, votes[i]] : [p]));
    const frames = encodeBatches(mixed, 16 * 1024);
    expect(frames.length).toBeGreaterThan(2);
    const order = decodeAll(frames).messages;
    expect(order.slice(0, 30).every(isLiveness)).toBe(true);
    expect(order.slice(30).some(isLiveness)).toBe(false);
    expect(order.slice(0, 30).map((m) => m.group)).toEqual(votes.map((v) => v.group));
    expect(order.slice(30).map((m) => m.group)).toEqual(bulk.map((p) => p.group));
    expect(decodeFrame(frames[0]!).messages.slice(0, 30).every(isLiveness)).toBe(true);
  });

  it("cuts a large batch into nearly full frames below the limit", () => {
    const batch = Array.from({ length: 5000 }, (_, g) => pushOf(g, 1, 256));
    const frames = encodeBatches(batch);
    expect(frames.length).toBeGreaterThan(1);
    for (const f of frames) expect(f.length).toBeLessThanOrEqual(DEFAULT_MAX_FRAME_BYTES);
    // The size bound is tight enough not to waste frames.
    for (const f of frames.slice(0, -1)) expect(f.length).toBeGreaterThan(0.9 * DEFAULT_MAX_FRAME_BYTES);
    const { messages, rejected } = decodeAll(frames);
    expect(rejected).toEqual([]);
    // Re-encoding what was decoded gives the same bytes: a cheap exact comparison of 5000 messages.
    expect(messages.map((m) => m.group)).toEqual(batch.map((m) => m.group));
    expect(Buffer.concat(encodeBatches(messages)).equals(Buffer.concat(frames))).toBe(true);
  });

  it("returns no frame for no messages", () => {
    expect(encodeBatches([])).toEqual([]);
  });

  it("refuses a message that cannot fit in one frame with a clear error", () => {
    const huge = pushOf(42, 1, 2000);
    expect(() => encodeBatches([vote, huge], 1500)).toThrow(FrameTooLargeError);
    expect(() => encodeBatches([huge], 1500)).toThrow(
      /push for group 42 needs up to \d+ bytes, more than the 1500-byte/,
    );
  });
});

describe("per-peer runs (the ack vector)", () => {
  it("a turn's acks to one peer travel as one tuple, in order, and come back as the same acks", () => {
    const acks = Array.from({ length: 500 }, (_, g) => ackOf(g + 1, 1000 + g));
    const [frame, ...more] = encodeBatches(acks);
    expect(more).toEqual([]);
    expect(tuplesOf(frame!)).toHaveLength(1);
    expect(tuplesOf(frame!)[0]!.slice(0, 2)).toEqual([RUN_CODE, ACK]);
    expect(decodeFrame(frame!)).toEqual({ messages: acks, rejected: [] });
  });

  it("a run ends where another type or another receiver comes between, so the order of messages is kept", () => {
    const other = { ...ackOf(9), to: "n3" };
    const batch = [ackOf(1), ackOf(2), pushOf(3, 1, 16), ackOf(4), other, ackOf(5)];
    const [frame] = encodeBatches(batch);
    expect(tuplesOf(frame!).map((t) => t[0])).toEqual([RUN_CODE, 8, RUN_CODE, RUN_CODE, RUN_CODE]);
    expect(decodeFrame(frame!).messages).toEqual(batch);
  });

  it("a run cut by the frame limit goes on in the next frame, every frame under the limit", () => {
    const acks = Array.from({ length: 3000 }, (_, g) => ackOf(g, 2 ** 40 + g));
    const frames = encodeBatches(acks, 4096);
    expect(frames.length).toBeGreaterThan(1);
    for (const f of frames) {
      expect(f.length).toBeLessThanOrEqual(4096);
      expect(tuplesOf(f)).toHaveLength(1);
    }
    expect(decodeAll(frames)).toEqual({ messages: acks, rejected: [] });
  });

  it("a bad message inside a run is dropped alone; its neighbours are delivered", () => {
    const frame = craft(
      ["n2", "n1"],
      [[RUN_CODE, ACK, 0, 1, [...ackFlat(1), ...ackFlat(2, "500"), ...ackFlat(2 ** 33), ...ackFlat(4)]]],
    );
    const { messages, rejected } = decodeFrame(frame);
    expect(messages).toEqual([ackOf(1), ackOf(4)]);
    expect(rejected).toEqual([
      { reason: "bad ack", index: 0 },
      { reason: "bad envelope", index: 0 },
    ]);
  });
});

describe("peer codec rejects garbage without throwing", () => {
  const good = encodeBatches(oneOfEach)[0]!;
  const frameLevel = (d: DecodedBatch) =>
    d.messages.length === 0 && d.rejected.length === 1 && d.rejected[0]!.index === undefined;

  it("random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), (bytes, versioned) => {
        if (versioned && bytes.length > 0) bytes[0] = PEER_FRAME_VERSION;
        const d = decodeFrame(bytes);
        for (const m of d.messages) expect(messageProblem(m)).toBeUndefined();
        for (const r of d.rejected) expect(r.reason).toMatch(/\w/);
      }),
      { numRuns: 2000 },
    );
  });

  it("a good frame with bytes flipped", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (flips) => {
          const bad = Buffer.from(good);
          for (const [at, value] of flips) bad[at] = value;
          const d = decodeFrame(bad);
          for (const m of d.messages) expect(messageProblem(m)).toBeUndefined();
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("every truncation of a frame", () => {
    for (let n = 0; n < good.length; n++)
      expect(frameLevel(decodeFrame(good.subarray(0, n))), `length ${n}`).toBe(true);
  });

  it("a wrong version (also version 1, from before runs)", () => {
    for (const version of [1, PEER_FRAME_VERSION + 1]) {
      const bad = Buffer.from(good);
      bad[0] = version;
      expect(decodeFrame(bad)).toEqual({
        messages: [],
        rejected: [{ reason: `frame has unknown version ${version}` }],
      });
    }
  });

  it("things that are not frames at all", () => {
    for (const x of [undefined, null, "frame", 42, {}, [1, 2]])
      expect(frameLevel(decodeFrame(x as never))).toBe(true);
  });

  it("an oversized frame, unread", () => {
    expect(decodeFrame(good, { maxFrameBytes: 100 }).rejected[0]!.reason).toMatch(/exceeds 100/);
  });

  it("wrong field types: only that message is dropped", () => {
    const frame = craft(
      ["n1", "n2"],
      [commitTuple(439), commitTuple("439"), commitTuple(-1), commitTuple(2 ** 60)],
    );
    const { messages, rejected } = decodeFrame(frame);
    expect(messages).toEqual([
      {
        type: "commitInfo",
        group: 7,
        inc: 1,
        from: "n1",
        to: "n2",
        pid: 2,
        prevLsn: 439,
        prevPid: 2,
        committedEnd: 439,
      },
    ]);
    expect(rejected).toEqual([
      { reason: "bad commitInfo", index: 1 },
      { reason: "bad commitInfo", index: 2 },
      { reason: "bad commitInfo", index: 3 },
    ]);
  });

  it("a bad base: core leaves it unchecked, the codec does not", () => {
    const fetchReply = (b: unknown) => [7, 7, 1, 0, 1, 4, 0, 0, [], b];
    const rebuild = (b: unknown) => [11, 7, 1, 0, 1, 3, b];
    const frame = craft(
      ["n1", "n2"],
      [
        fetchReply(base),
        fetchReply({ ...base, config: null }),
        fetchReply("base"),
        rebuild({ ...base, config: null }),
        rebuild({ ...base, config: { ...base.config, members: [1] } }),
        rebuild(null),
      ],
    );
    const { messages, rejected } = decodeFrame(frame);
    expect(messages).toHaveLength(1);
    expect(rejected.map((r) => r.index)).toEqual([1, 2, 3, 4, 5]);
  });

  it("structural faults drop the whole frame", () => {
    const body = Buffer.alloc(10);
    const push = (flat: unknown) => [8, 7, 1, 0, 1, 2, 0, 0, flat, 0];
    const entry = groupEntry(0, 2, body);
    const flat = [2, 0, entry.end, 1, 0, 0, entry.checksum, entry.accum, 0, 10];
    expect(decodeFrame(craft(["n1", "n2"], [push(flat)], body)).messages).toHaveLength(1);
    const faults: Array<[string, Buffer]> = [
      ["tuples is not", craft(["n1"], "tuples")],
      ["head is not", Buffer.concat([Buffer.from([PEER_FRAME_VERSION, 0, 0, 0, 1]), Buffer.from([0x80])])],
      ["string table", craft([1], [])],
      ["not a tuple", craft(["n1", "n2"], [{ type: "vote" }])],
      ["unknown type code", craft(["n1", "n2"], [[99, 7, 1, 0, 1]])],
      ["unknown type code", craft(["n1", "n2"], [["map", 7, 1, 0, 1]])],
      ["slots", craft(["n1", "n2"], [commitTuple(1).slice(0, -1)])],
      ["missing string", craft(["n1"], [commitTuple(1)])],
      ["malformed entries", craft(["n1", "n2"], [push(flat.slice(1))], body)],
      ["body length", craft(["n1", "n2"], [push([...flat.slice(0, -1), 11])], body)],
      ["body length", craft(["n1", "n2"], [push([...flat.slice(0, -1), -1])], body)],
      ["bodies take", craft(["n1", "n2"], [push(flat)], Buffer.alloc(11))],
      ["head runs past", Buffer.from([PEER_FRAME_VERSION, 0, 0, 1, 0, 0x90])],
      ["not msgpack", Buffer.from([PEER_FRAME_VERSION, 0, 0, 0, 2, 0xc1, 0xc1])],
      ["run 0 has 4 slots", craft(["n1", "n2"], [[RUN_CODE, ACK, 0, 1]])],
      ["never runs", craft(["n1", "n2"], [[RUN_CODE, 8, 0, 1, ackFlat(7)]])],
      ["never runs", craft(["n1", "n2"], [[RUN_CODE, "ack", 0, 1, ackFlat(7)]])],
      ["malformed messages", craft(["n1", "n2"], [[RUN_CODE, ACK, 0, 1, []]])],
      ["malformed messages", craft(["n1", "n2"], [[RUN_CODE, ACK, 0, 1, ackFlat(7).slice(1)]])],
      ["malformed messages", craft(["n1", "n2"], [[RUN_CODE, ACK, 0, 1, "flat"]])],
      ["missing string", craft(["n1"], [[RUN_CODE, ACK, 0, 1, ackFlat(7)]])],
      [
        "not msgpack",
        Buffer.concat([craft([], []).subarray(0, 5), Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])]),
      ],
    ];
    for (const [reason, frame] of faults) {
      const d = decodeFrame(frame);
      expect(frameLevel(d), reason).toBe(true);
      expect(d.rejected[0]!.reason).toContain(reason);
    }
  });
});
