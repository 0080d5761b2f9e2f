// Encoding of entries inside a group entry and the group entry's checks: whatever goes in decodes back the
// same, in LSN order, and any damage to a body (or a header that does not fit it) is detected.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  entriesOf,
  entryAt,
  GROUP_HEADER_BYTES,
  type GroupEntry,
  GroupFlag,
  groupEntryProblem,
} from "./group-entry.ts";
import {
  ENTRY_HEADER_BYTES,
  EntryKind,
  encodedEntrySize,
  forEachSession,
  readEntry,
  SESSION_BYTES,
} from "./log-entry.ts";
import { OpenGroupEntry } from "./open-group-entry.ts";

const SEED = 424242;

interface Spec {
  kind: EntryKind;
  csnStep: number;
  payload: Uint8Array;
  session: { id: number; seq: number } | undefined;
}

const specArb: fc.Arbitrary<Spec> = fc.record({
  kind: fc.constantFrom(EntryKind.data, EntryKind.data, EntryKind.config, EntryKind.startWorking),
  csnStep: fc.integer({ min: 1, max: 1_000_000 }),
  payload: fc.uint8Array({ maxLength: 300 }),
  session: fc.option(
    fc.record({
      id: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
      seq: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
    }),
    { nil: undefined },
  ),
});

function build(lsn: number, firstCsn: number, specs: Spec[], pid = 3, prevAccum = 0) {
  const o = new OpenGroupEntry(lsn, firstCsn, 16);
  const lsns: number[] = [];
  const csns: number[] = [];
  let csn = firstCsn;
  for (const s of specs) {
    csn += s.csnStep;
    csns.push(csn);
    lsns.push(o.add(s.kind, csn, s.payload, s.session));
  }
  return { ge: o.freeze(pid, 17, prevAccum), lsns, csns };
}

describe("log entry and group entry encoding", () => {
  it(`round trip: entries decode back exactly, at the LSNs append returned (fast-check seed ${SEED})`, () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 2 ** 40 }),
        fc.nat({ max: 2 ** 45 }),
        fc.array(specArb, { minLength: 1, maxLength: 12 }),
        fc.nat(),
        (lsn, firstCsn, specs, prevAccum) => {
          const { ge, lsns, csns } = build(lsn, firstCsn, specs, 3, prevAccum);
          const bodyLen = specs.reduce((n, s) => n + encodedEntrySize(s.payload.length, !!s.session), 0);
          expect(ge.body.length).toBe(bodyLen);
          expect(ge.end).toBe(lsn + GROUP_HEADER_BYTES + bodyLen);
          expect(ge.count).toBe(specs.length);
          expect(ge.maxCsn).toBe(csns.at(-1));
          expect(ge.pid).toBe(3);
          expect(ge.committedEnd).toBe(17);
          expect(!!(ge.flags & GroupFlag.session)).toBe(specs.some((s) => s.session));
          expect(!!(ge.flags & GroupFlag.config)).toBe(specs.some((s) => s.kind !== EntryKind.data));
          const got = [...entriesOf(ge)];
          expect(got.length).toBe(specs.length);
          got.forEach((e, i) => {
            const s = specs[i]!;
            expect(e.lsn).toBe(lsns[i]);
            expect(e.csn).toBe(csns[i]);
            expect(e.kind).toBe(s.kind);
            expect(Buffer.from(e.payload).equals(Buffer.from(s.payload))).toBe(true);
            expect(e.session).toEqual(s.session);
            expect(entryAt(ge, e.lsn)).toEqual(e);
          });
          // The session scan (followers learn sessions with it) sees exactly the decoded entries' sessions.
          const sessions: unknown[] = [];
          forEachSession(ge.body, ge.lsn + GROUP_HEADER_BYTES, (tag, at, csn) =>
            sessions.push([tag, at, csn]),
          );
          expect(sessions).toEqual(got.filter((e) => e.session).map((e) => [e.session, e.lsn, e.csn]));
          // No entry starts between two entries.
          expect(entryAt(ge, lsns[0]! + 1)).toBeUndefined();
          expect(groupEntryProblem(ge, prevAccum)).toBeUndefined();
          expect(groupEntryProblem(ge, undefined)).toBeUndefined();
        },
      ),
      { numRuns: 300, seed: SEED },
    );
  });

  it(`any single flipped body bit is detected, with and without the previous accum (seed ${SEED})`, () => {
    fc.assert(
      fc.property(
        fc.array(specArb, { minLength: 1, maxLength: 5 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (specs, prevAccum, pos, bit) => {
          const { ge } = build(1000, 5, specs, 2, prevAccum);
          const body = Buffer.from(ge.body);
          body[pos % body.length]! ^= 1 << bit;
          const bad: GroupEntry = { ...ge, body };
          expect(groupEntryProblem(bad, prevAccum)).toBe("accumulated checksum mismatch");
          expect(groupEntryProblem(bad, undefined)).toBe("checksum mismatch");
        },
      ),
      { numRuns: 300, seed: SEED + 1 },
    );
  });

  it("an entry that does not follow the expected previous log is detected by its accum", () => {
    const { ge } = build(
      0,
      0,
      [{ kind: EntryKind.data, csnStep: 1, payload: new Uint8Array([1]), session: undefined }],
      1,
      77,
    );
    expect(groupEntryProblem(ge, 77)).toBeUndefined();
    expect(groupEntryProblem(ge, 78)).toBe("accumulated checksum mismatch");
    // A forged accum on an intact body.
    expect(groupEntryProblem({ ...ge, accum: ge.accum ^ 1 }, 77)).toBe("accumulated checksum mismatch");
    expect(groupEntryProblem({ ...ge, checksum: ge.checksum ^ 1 }, undefined)).toBe("checksum mismatch");
  });

  it("header fields that do not fit the body are detected", () => {
    const { ge } = build(64, 0, [
      { kind: EntryKind.data, csnStep: 1, payload: new Uint8Array(10), session: undefined },
    ]);
    expect(groupEntryProblem({ ...ge, end: ge.end + 1 }, undefined)).toBe("end does not match the body size");
    expect(groupEntryProblem({ ...ge, pid: 0 }, undefined)).toBe("bad pid");
    expect(groupEntryProblem({ ...ge, pid: 1.5 }, undefined)).toBe("bad pid");
    expect(groupEntryProblem({ ...ge, lsn: -1 }, undefined)).toBe("bad lsn");
    expect(groupEntryProblem({ ...ge, body: "x" as unknown as Uint8Array }, undefined)).toBe(
      "body is not bytes",
    );
  });

  it("readEntry throws on a truncated or malformed body instead of reading garbage", () => {
    const payload = new Uint8Array(20).fill(9);
    const { ge } = build(0, 0, [{ kind: EntryKind.data, csnStep: 1, payload, session: { id: 1, seq: 2 } }]);
    const body = Buffer.from(ge.body);
    expect(readEntry(body, 0, 64).entry.session).toEqual({ id: 1, seq: 2 });
    expect(readEntry(body, 0, 64).next).toBe(ENTRY_HEADER_BYTES + SESSION_BYTES + 20);
    expect(() => readEntry(body.subarray(0, body.length - 1), 0, 64)).toThrow(/malformed/);
    expect(() => readEntry(body.subarray(0, 10), 0, 64)).toThrow(/runs past/);
    const badKind = Buffer.from(body);
    badKind[4] = 9;
    expect(() => readEntry(badKind, 0, 64)).toThrow(/malformed/);
  });
});
