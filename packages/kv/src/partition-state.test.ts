import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeRecord, encodeRecord, type KvRecord } from "./kv-record.ts";
import { type ApplyOutcome, type PartitionEntry, PartitionState } from "./partition-state.ts";

/** A log for partition 1 built from records, one entry per record, csn as given. */
function log(items: Array<[KvRecord | Uint8Array, number]>): PartitionEntry[] {
  return items.map(([r, csn], lsn) => ({
    lsn,
    csn,
    payload: r instanceof Uint8Array ? r : encodeRecord(r),
  }));
}

const prepare = (
  txnId: string,
  snapshot: number,
  keys: string[],
  participants = [1, 2],
  primary = 1,
): KvRecord => ({
  type: "prepare",
  txnId,
  snapshot,
  writes: keys.map((key) => ({ key, value: `${txnId}:${key}` })),
  primary,
  participants,
});

function replay(
  entries: readonly PartitionEntry[],
  s = new PartitionState(1),
): { s: PartitionState; out: ApplyOutcome[] } {
  const out: ApplyOutcome[] = [];
  for (const e of entries) {
    const o = s.apply(e);
    if (o) out.push(o);
  }
  return { s, out };
}

describe("PartitionState decisions at apply time", () => {
  it("first writer wins: a second prepare on a locked key is refused as a conflict", () => {
    const { out } = replay(
      log([
        [prepare("a", 10, ["x"]), 20],
        [prepare("b", 15, ["x", "y"]), 21],
      ]),
    );
    expect(out[0]).toEqual({ kind: "prepared", txnId: "a", prepareVersion: 20 });
    expect(out[1]).toMatchObject({ kind: "refused", txnId: "b", reason: "conflict", key: "x" });
  });

  it("a prepare whose key was committed after its snapshot is refused", () => {
    const { out, s } = replay(
      log([
        [prepare("a", 10, ["x"]), 20],
        [{ type: "commit", txnId: "a", commitVersion: 25 }, 26],
        [prepare("b", 24, ["x"]), 30],
        [prepare("c", 25, ["x"]), 31],
      ]),
    );
    expect(out[2]).toMatchObject({ kind: "refused", txnId: "b", reason: "conflict" });
    expect(out[3]).toMatchObject({ kind: "prepared", txnId: "c" });
    expect(s.read("x", 24)).toEqual({ kind: "value", value: null, version: 0 });
    expect(s.read("x", 25)).toEqual({ kind: "value", value: "a:x", version: 25 });
  });

  it("a one-partition prepare is its own commit, at its prepare version (one append)", () => {
    const { out, s } = replay(log([[prepare("a", 10, ["x"], [1], 1), 20]]));
    expect(out[0]).toEqual({ kind: "committed", txnId: "a", commitVersion: 20 });
    expect(s.read("x", 20)).toEqual({ kind: "value", value: "a:x", version: 20 });
    expect(s.lockCount).toBe(0);
  });

  it("the first decision wins: a later commit or abort of a decided transaction is ignored", () => {
    const { out, s } = replay(
      log([
        [prepare("a", 10, ["x"]), 20],
        [{ type: "abort", txnId: "a" }, 21],
        [{ type: "commit", txnId: "a", commitVersion: 30 }, 31],
        [prepare("b", 10, ["y"]), 32],
        [{ type: "commit", txnId: "b", commitVersion: 40 }, 41],
        [{ type: "abort", txnId: "b" }, 42],
      ]),
    );
    expect(out.map((o) => o.kind)).toEqual([
      "prepared",
      "aborted",
      "ignored",
      "prepared",
      "committed",
      "ignored",
    ]);
    expect(s.txn("a")?.state).toBe("aborted");
    expect(s.txn("b")?.state).toBe("committed");
    expect(s.read("x", 100)).toMatchObject({ value: null });
  });

  it("a prepare that lands after its transaction's abort is refused, so the abort stays the decision", () => {
    const { out, s } = replay(
      log([
        [{ type: "abort", txnId: "a" }, 15],
        [prepare("a", 10, ["x"]), 20],
      ]),
    );
    expect(out[1]).toMatchObject({ kind: "refused", reason: "decided" });
    expect(s.lockCount).toBe(0);
  });

  it("a commit version below the prepare version is ignored", () => {
    const { out, s } = replay(
      log([
        [prepare("a", 10, ["x"]), 20],
        [{ type: "commit", txnId: "a", commitVersion: 19 }, 21],
      ]),
    );
    expect(out[1]).toMatchObject({ kind: "ignored" });
    expect(s.txn("a")?.state).toBe("prepared");
  });

  it("a reader sees a lock prepared at or below its snapshot and not one above it", () => {
    const { s } = replay(log([[prepare("a", 10, ["x"]), 20]]));
    expect(s.read("x", 20)).toEqual({ kind: "locked", txnId: "a", prepareVersion: 20, primary: 1 });
    expect(s.read("x", 19)).toEqual({ kind: "value", value: null, version: 0 });
  });

  it("malformed records are reported and skipped without changing the state", () => {
    const junk = [
      new Uint8Array([]),
      new Uint8Array([1, 0xc1]),
      new Uint8Array([9, 1, 2]),
      Buffer.from("hello"),
    ];
    const bad: KvRecord = {
      type: "prepare",
      txnId: "z",
      snapshot: 1,
      writes: [],
      primary: 1,
      participants: [1],
    };
    const { out, s } = replay(
      log([
        [prepare("a", 10, ["x"], [1], 1), 20],
        ...junk.map((j, i): [Uint8Array, number] => [j, 21 + i]),
        [bad, 30],
      ]),
    );
    expect(out.slice(1).every((o) => o.kind === "malformed")).toBe(true);
    expect(s.stats.malformed).toBe(5);
    expect(s.read("x", 100)).toMatchObject({ value: "a:x" });
    expect(s.next).toBe(6);
  });

  it("a prepare older than maxTxnAgeUs past its snapshot is refused as expired", () => {
    const s = new PartitionState(1, { maxTxnAgeUs: 100 });
    const { out } = replay(log([[prepare("a", 10, ["x"]), 111]]), s);
    expect(out[0]).toMatchObject({ kind: "refused", reason: "expired" });
  });
});

// ------------------------------------------------------------------ properties over random logs

const KEYS = ["a", "b", "c", "d", "e"];
const arbRecord: fc.Arbitrary<KvRecord | Uint8Array> = fc.oneof(
  fc.record({
    type: fc.constant("prepare" as const),
    txnId: fc.constantFrom("t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"),
    snapshotLag: fc.integer({ min: -5, max: 60 }),
    keys: fc.uniqueArray(fc.constantFrom(...KEYS), { minLength: 1, maxLength: 3 }),
    single: fc.boolean(),
  }) as unknown as fc.Arbitrary<KvRecord>,
  fc.record({
    type: fc.constant("commit" as const),
    txnId: fc.constantFrom("t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"),
    commitVersion: fc.integer({ min: 0, max: 2000 }),
  }),
  fc.record({
    type: fc.constant("abort" as const),
    txnId: fc.constantFrom("t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"),
  }),
  fc.constant({ type: "fence" as const }),
  fc.uint8Array({ maxLength: 12 }),
);

/** Random logs with increasing CSNs; snapshots are placed relative to the entry's CSN. */
const arbLog = fc
  .array(fc.tuple(arbRecord, fc.integer({ min: 1, max: 20 })), { maxLength: 120 })
  .map((items) => {
    let csn = 100;
    return items.map(([r, step], lsn): PartitionEntry => {
      csn += step;
      let rec: KvRecord | Uint8Array = r;
      if (!(r instanceof Uint8Array) && r.type === "prepare") {
        const g = r as unknown as { txnId: string; snapshotLag: number; keys: string[]; single: boolean };
        rec = prepare(g.txnId, Math.max(0, csn - g.snapshotLag), g.keys, g.single ? [1] : [1, 2], 1);
      }
      return { lsn, csn, payload: rec instanceof Uint8Array ? rec : encodeRecord(rec) };
    });
  });

const opts = { maxTxnAgeUs: 200, pruneEvery: 7 };

describe("PartitionState properties", () => {
  it("replaying the same log twice gives the same decisions and the same state", () => {
    fc.assert(
      fc.property(arbLog, (entries) => {
        const a = replay(entries, new PartitionState(1, opts));
        const b = replay(entries, new PartitionState(1, opts));
        expect(b.out).toEqual(a.out);
        expect(Buffer.from(b.s.checkpoint())).toEqual(Buffer.from(a.s.checkpoint()));
      }),
      { numRuns: 300 },
    );
  });

  it("a checkpoint at any point plus the rest of the log gives the state and decisions of a full replay", () => {
    fc.assert(
      fc.property(arbLog, fc.nat(), (entries, cut) => {
        const k = entries.length === 0 ? 0 : cut % (entries.length + 1);
        const full = replay(entries, new PartitionState(1, opts));
        const head = replay(entries.slice(0, k), new PartitionState(1, opts));
        const restored = PartitionState.restore(head.s.checkpoint());
        // Resuming from the checkpoint's position: entries it already holds are skipped.
        const tail = replay(entries, restored);
        expect([...head.out, ...tail.out]).toEqual(full.out);
        expect(Buffer.from(restored.checkpoint())).toEqual(Buffer.from(full.s.checkpoint()));
      }),
      { numRuns: 300 },
    );
  });

  it("a prepare succeeds only on keys unlocked and unchanged since its snapshot (first writer wins)", () => {
    fc.assert(
      fc.property(arbLog, (entries) => {
        const s = new PartitionState(1, opts);
        for (const e of entries) {
          const prior = PartitionState.restore(s.checkpoint());
          const o = s.apply(e);
          const d = decodeRecord(e.payload);
          if (!d.ok || d.record.type !== "prepare") continue;
          const won = o?.kind === "prepared" || (o?.kind === "committed" && o.commitVersion === e.csn);
          const free = d.record.writes.every((w) => {
            const r = prior.read(w.key, Number.MAX_SAFE_INTEGER);
            return r.kind === "value" && r.version <= (d.record as { snapshot: number }).snapshot;
          });
          if (won) expect(free).toBe(true);
          if (o?.kind === "refused" && o.reason === "conflict") expect(free).toBe(false);
        }
      }),
      { numRuns: 100 },
    );
  });
});
