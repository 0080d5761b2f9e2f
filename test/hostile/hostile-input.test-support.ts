// Test-only: fast-check generators of hostile input for a live cluster (peer frames, RPC requests, bundles,
// events), well-formed and not. Every generator is sampled with the suite's seed, so a run replays exactly.
import type { Message } from "@palf/core";
import { encodeBatches, encodeRpc, encodeWatermarks, RPC_VERSION } from "@palf/transport";
import { messageArb } from "@palf/transport/testing";
import fc from "fast-check";

/** Values at and around every limit a field may meet: uint32, 2^52 (MAX_COUNTER), 2^53, negatives, fractions. */
export const extreme = fc.constantFrom(
  0,
  1,
  2 ** 31,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 40,
  2 ** 52,
  2 ** 52 + 1,
  2 ** 53 - 1,
  -1,
  1.5,
  Number.NaN,
  Number.POSITIVE_INFINITY,
);
const anyNumber = fc.oneof(extreme, fc.nat(), fc.double());

/** A well-formed message with its group and sender replaced. */
export function messagesAs(groups: fc.Arbitrary<number>, from: fc.Arbitrary<string>, to: readonly string[]) {
  return fc
    .tuple(messageArb, groups, from, fc.constantFrom(...to))
    .map(([m, group, f, t]) => ({ ...m, group, from: f, to: t }) as Message);
}

/** One frame of `messages` (cut at the default limit; hostile batches are small). */
export function frameOf(messages: readonly Message[]): Uint8Array {
  return encodeBatches(messages)[0]!;
}

/** Frames that are not well-formed: random bytes, a right version byte then junk, cut or bit-flipped frames. */
export function garbageFrame(
  valid: fc.Arbitrary<Message[]>,
): fc.Arbitrary<{ kind: string; bytes: Uint8Array }> {
  return fc.oneof(
    fc.uint8Array({ maxLength: 2000 }).map((b) => ({ kind: "random bytes", bytes: b })),
    fc
      .uint8Array({ maxLength: 2000 })
      .map((b) => ({ kind: "version + junk", bytes: Buffer.concat([Buffer.from([1]), b]) })),
    fc.tuple(valid, fc.nat()).map(([ms, n]) => {
      const f = frameOf(ms);
      return { kind: "truncated frame", bytes: f.subarray(0, n % Math.max(1, f.length)) };
    }),
    fc.tuple(valid, fc.nat(), fc.integer({ min: 1, max: 255 })).map(([ms, at, x]) => {
      const f = Buffer.from(frameOf(ms));
      f[at % f.length]! ^= x;
      return { kind: "bit-flipped frame", bytes: f };
    }),
  );
}

/**
 * Well-formed requests with extreme values. Destructive admin requests (delete, base) only touch groups no
 * test load uses (`scratch`); appends and reads go to the load's groups too.
 */
export function extremeRequest(
  groups: readonly number[],
  nodes: readonly string[],
  scratch: fc.Arbitrary<number>,
) {
  const real = fc.constantFrom(...groups);
  const group = fc.oneof(real, extreme, scratch);
  // Extreme values include small ids (0, 1) that may be real groups: destructive requests never get those.
  const notReal = fc.oneof(extreme, scratch).filter((g) => !groups.includes(g) && g !== 0);
  const payload = fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b));
  const item = fc.record(
    {
      payload,
      refCsn: fc.oneof(extreme, fc.nat()),
      session: fc.record({ id: anyNumber, seq: anyNumber }),
      retry: fc.boolean(),
    },
    { requiredKeys: ["payload"] },
  );
  const node = fc.oneof(fc.constantFrom(...nodes), fc.constantFrom("n9", "", "a.b", "x".repeat(80)));
  return fc.oneof(
    fc.record({ op: fc.constant("append"), group, items: fc.array(item, { minLength: 1, maxLength: 4 }) }),
    // Many empty items: an append whose reply would pass the frame limit.
    fc.record({
      op: fc.constant("append"),
      group: real,
      items: fc
        .integer({ min: 5000, max: 30000 })
        .map((n) => Array.from({ length: n }, () => ({ payload: Buffer.alloc(0) }))),
    }),
    fc.record(
      { op: fc.constant("read"), group, fromLsn: anyNumber, maxEntries: anyNumber, maxBytes: anyNumber },
      { requiredKeys: ["op", "group", "fromLsn"] },
    ),
    fc.record({ op: fc.constant("locate"), group, csn: anyNumber }),
    fc.record({ op: fc.constant("status"), group: fc.option(group, { nil: undefined }) }),
    fc.record({ op: fc.constant("gts"), count: anyNumber }),
    fc.record(
      {
        op: fc.constant("createGroup"),
        group: notReal,
        members: fc.array(node, { maxLength: 6 }),
        learners: fc.array(node, { maxLength: 2 }),
        inc: anyNumber,
      },
      { requiredKeys: ["op", "group", "members"] },
    ),
    fc.record({ op: fc.constant("deleteGroup"), group: notReal }),
    fc.record({ op: fc.constant("advanceBase"), group: notReal, lsn: anyNumber }),
    fc.record({ op: fc.constant("transferLeader"), group, target: node }),
  );
}

/** Request payloads that are not well-formed: junk, wrong versions, msgpack of anything, bad bundles. */
export const malformedRequest: fc.Arbitrary<{ kind: string; bytes: Uint8Array }> = fc.oneof(
  fc.uint8Array({ maxLength: 500 }).map((b) => ({ kind: "random bytes", bytes: b })),
  fc
    .uint8Array({ maxLength: 500 })
    .map((b) => ({ kind: "version + junk", bytes: Buffer.concat([Buffer.from([RPC_VERSION]), b]) })),
  fc.anything().map((v) => {
    try {
      return { kind: "msgpack of anything", bytes: encodeRpc(v as never) };
    } catch {
      return { kind: "msgpack of anything", bytes: Buffer.from([RPC_VERSION]) };
    }
  }),
  fc
    .record({ op: fc.string(), group: anyNumber })
    .map((r) => ({ kind: "unknown op", bytes: encodeRpc(r as never) })),
  fc
    .uint8Array({ maxLength: 200 })
    .map((b) => ({ kind: "malformed bundle", bytes: Buffer.concat([Buffer.from([0xb1, 3, 0, 0, 0]), b]) })),
  fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 5 }).map((items) => {
    // Well-framed bundle, junk items: each item must be answered on its own.
    const parts: Buffer[] = [Buffer.from([0xb1, items.length, 0, 0, 0])];
    items.forEach((it, i) => {
      const head = Buffer.alloc(8);
      head.writeUInt32LE(i + 1, 0);
      head.writeUInt32LE(it.length, 4);
      parts.push(head, Buffer.from(it));
    });
    return { kind: "bundle of junk", bytes: Buffer.concat(parts) };
  }),
);

/** Events anyone on the server could publish: junk, and well-formed leader events and watermarks with extreme values. */
export const hostileEvent: fc.Arbitrary<{
  kind: string;
  topic: "events.leader" | "events.watermarks";
  bytes: Uint8Array;
}> = fc.oneof(
  fc
    .uint8Array({ maxLength: 300 })
    .map((b) => ({ kind: "junk leader event", topic: "events.leader" as const, bytes: b })),
  fc
    .uint8Array({ maxLength: 300 })
    .map((b) => ({ kind: "junk watermark", topic: "events.watermarks" as const, bytes: b })),
  fc
    .array(fc.record({ group: anyNumber, leader: fc.string(), pid: anyNumber }), { maxLength: 20 })
    .map((es) => ({
      kind: "extreme leader events",
      topic: "events.leader" as const,
      bytes: encodeRpc(es as never),
    })),
  fc
    .record({
      node: fc.string({ maxLength: 10 }),
      boot: anyNumber,
      seq: anyNumber,
      base: anyNumber,
      w: anyNumber,
      groups: fc.array(anyNumber, { maxLength: 10 }),
    })
    .map((b) => {
      try {
        return {
          kind: "extreme watermarks",
          topic: "events.watermarks" as const,
          bytes: encodeWatermarks(b),
        };
      } catch {
        return { kind: "extreme watermarks", topic: "events.watermarks" as const, bytes: Buffer.from([0]) };
      }
    }),
);
