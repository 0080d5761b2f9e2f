import { crc32 } from "node:zlib";
import type { BaseInfo, GroupEntry, Message } from "@palf/core";
import { GROUP_HEADER_BYTES, MAX_COUNTER, MAX_GROUP_ID } from "@palf/core";
import fc from "fast-check";

/** Test-only: message fixtures and fast-check arbitraries. Not exported from index.ts. */

export function groupEntry(lsn: number, pid: number, body: Uint8Array, prevAccum = 0): GroupEntry {
  return {
    pid,
    lsn,
    end: lsn + GROUP_HEADER_BYTES + body.length,
    count: 1,
    maxCsn: 1_700_000_000_000_000 + lsn,
    flags: 0,
    checksum: crc32(body),
    accum: crc32(body, prevAccum),
    committedEnd: lsn,
    body: Buffer.from(body),
  };
}

export const base: BaseInfo = {
  lsn: 4096,
  pid: 3,
  accum: 123456789,
  csn: 1_700_000_000_000_000,
  config: { version: { pid: 3, seq: 2 }, members: ["n1", "n2", "n3"], learners: ["n4"], replicaNum: 3 },
};

const env = { group: 7, inc: 1, from: "n1", to: "n2" } as const;
const entries = [groupEntry(0, 2, Buffer.from("first entry")), groupEntry(75, 2, Buffer.alloc(300, 7))];

/** One message of every type, with every optional field both present and absent. */
export const oneOfEach: Message[] = [
  { ...env, type: "vote", ballot: 5, priority: 1.5, seq: 9, renew: true, cfg: { pid: 2, seq: 1 } },
  { ...env, type: "voteReply", ballot: 5, seq: 9, granted: false, highestBallot: 6, cfg: { pid: 2, seq: 1 } },
  { ...env, group: 0, type: "leaseRenew", seq: 9, epoch: 2, groups: [7, 2, 8, 3] },
  { ...env, group: 0, type: "leaseRenewReply", seq: 9, epoch: 2, refused: [8], needSet: false },
  { ...env, type: "abdicate", ballot: 5, target: "n3" },
  { ...env, type: "timeoutNow", ballot: 6 },
  { ...env, type: "prepare", pid: 4 },
  { ...env, type: "prepareReply", pid: 4, ok: true, promised: 4, lastPid: 2, end: 439, baseLsn: 0 },
  { ...env, type: "fetch", pid: 4, fromLsn: 0, toLsn: 439 },
  { ...env, type: "fetchReply", pid: 4, prevLsn: 0, prevPid: 0, entries },
  { ...env, type: "fetchReply", pid: 4, prevLsn: 4096, prevPid: 3, entries: [], base },
  { ...env, type: "push", pid: 2, prevLsn: 0, prevPid: 0, entries, committedEnd: 75 },
  { ...env, type: "push", pid: 2, prevLsn: 439, prevPid: 2, entries: [], committedEnd: 439 },
  { ...env, type: "ack", pid: 2, ok: false, end: -1, committedEnd: 0, retryFrom: 75, promised: 3 },
  { ...env, type: "commitInfo", pid: 2, prevLsn: 439, prevPid: 2, committedEnd: 439 },
  { ...env, type: "rebuild", pid: 3, base },
  { ...env, type: "notMember", cfg: { pid: 3, seq: 2 } },
];

/** The same messages sent in `from`'s name (a receiver keeps only messages from the subject's sender). */
export function sentBy<M extends Message>(from: string, messages: readonly M[]): M[] {
  return messages.map((m) => ({ ...m, from }));
}

/** A push carrying `count` group entries of `bodyBytes` each, as a busy leader sends them. */
export function pushOf(group: number, count: number, bodyBytes: number): Message {
  const es: GroupEntry[] = [];
  let lsn = 1000;
  for (let i = 0; i < count; i++) {
    const e = groupEntry(lsn, 2, Buffer.alloc(bodyBytes, (group + i) & 0xff));
    es.push(e);
    lsn = e.end;
  }
  return {
    group,
    inc: 0,
    from: "n1",
    to: "n2",
    type: "push",
    pid: 2,
    prevLsn: 1000,
    prevPid: 2,
    entries: es,
    committedEnd: 1000,
  };
}

// --- fast-check arbitraries: valid messages, including edge values msgpack encodes in different widths.

const nat = fc.oneof(
  fc.integer({ min: 0, max: 300 }),
  fc.integer({ min: 0, max: 70_000 }),
  fc.integer({ min: 0, max: 2 ** 32 + 10 }),
  // Counters from peers stop at MAX_COUNTER (2^52): headroom below 2^53 (core's counter-limits.ts).
  fc.integer({ min: 0, max: MAX_COUNTER }),
);
/** Group ids are a uint32 (what the WAL stores). */
const groupId = fc.oneof(fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: MAX_GROUP_ID }));
const pid = nat.map((n) => Math.max(1, n));
const id = fc.oneof(
  fc.constantFrom("n1", "n2", "node-3"),
  fc.string({ minLength: 1, maxLength: 40, unit: "grapheme" }).filter((s) => s.length <= 256),
);
// -0 travels as 0 (msgpack has no negative zero integer), so it is left out of the round-trip property.
const finite = fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => x || 0);
const cfg = fc.record({ pid: nat, seq: nat });
const body = fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b));
const entry = fc.record({ lsn: nat, pid, body }).map((e) => groupEntry(e.lsn % 2 ** 40, e.pid, e.body));
const entryList = fc.array(entry, { maxLength: 4 });
const baseArb = fc.record({
  lsn: nat,
  pid: nat,
  accum: nat,
  csn: nat,
  // Members and learners are distinct node ids (a config listing one twice is refused).
  config: fc
    .record({ version: cfg, ids: fc.uniqueArray(id, { maxLength: 7 }), split: fc.nat(), replicaNum: nat })
    .map(({ version, ids, split, replicaNum }) => {
      const m = ids.length === 0 ? 0 : Math.max(ids.length - 2, split % (ids.length + 1));
      return { version, members: ids.slice(0, m), learners: ids.slice(m), replicaNum };
    }),
});
const envelope = { group: groupId, inc: nat, from: id, to: id };

export const messageArb: fc.Arbitrary<Message> = fc.oneof(
  fc.record({
    ...envelope,
    type: fc.constant("vote" as const),
    ballot: nat,
    priority: finite,
    seq: nat,
    renew: fc.boolean(),
    cfg,
  }),
  fc.record({
    ...envelope,
    type: fc.constant("voteReply" as const),
    ballot: nat,
    seq: nat,
    granted: fc.boolean(),
    highestBallot: nat,
    cfg,
  }),
  fc.record({ ...envelope, type: fc.constant("abdicate" as const), ballot: nat, target: id }),
  fc.record({ ...envelope, type: fc.constant("timeoutNow" as const), ballot: nat }),
  fc.record({ ...envelope, type: fc.constant("prepare" as const), pid }),
  fc.record({
    ...envelope,
    type: fc.constant("prepareReply" as const),
    pid,
    ok: fc.boolean(),
    promised: nat,
    lastPid: nat,
    end: nat,
    baseLsn: nat,
  }),
  fc
    .record({ ...envelope, type: fc.constant("fetch" as const), pid, fromLsn: nat, toLsn: nat })
    .map((m) => ({ ...m, fromLsn: Math.min(m.fromLsn, m.toLsn), toLsn: Math.max(m.fromLsn, m.toLsn) })),
  fc.record(
    {
      ...envelope,
      type: fc.constant("fetchReply" as const),
      pid,
      prevLsn: nat,
      prevPid: nat,
      entries: entryList,
      base: baseArb,
    },
    { requiredKeys: ["group", "inc", "from", "to", "type", "pid", "prevLsn", "prevPid", "entries"] },
  ),
  fc.record({
    ...envelope,
    type: fc.constant("push" as const),
    pid,
    prevLsn: nat,
    prevPid: nat,
    entries: entryList,
    committedEnd: nat,
  }),
  fc.record({
    ...envelope,
    type: fc.constant("ack" as const),
    pid,
    ok: fc.boolean(),
    end: fc.integer({ min: -1, max: 2 ** 40 }),
    committedEnd: nat,
    retryFrom: nat,
    promised: nat,
  }),
  fc.record({
    ...envelope,
    type: fc.constant("commitInfo" as const),
    pid,
    prevLsn: nat,
    prevPid: nat,
    committedEnd: nat,
  }),
  fc.record({ ...envelope, type: fc.constant("rebuild" as const), pid, base: baseArb }),
  fc.record({
    ...envelope,
    type: fc.constant("leaseRenew" as const),
    seq: nat,
    epoch: nat,
    groups: fc.array(nat, { maxLength: 10 }).map((a) => (a.length % 2 === 0 ? a : a.slice(1))),
  }),
  fc.record({
    ...envelope,
    type: fc.constant("leaseRenewReply" as const),
    seq: nat,
    epoch: nat,
    refused: fc.array(nat, { maxLength: 6 }),
    needSet: fc.boolean(),
  }),
  fc.record({ ...envelope, type: fc.constant("notMember" as const), cfg }),
);

/** Polls until `check` holds; for waiting on network delivery without asserting on time. */
export async function waitFor(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
