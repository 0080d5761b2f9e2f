// The checkers must be able to fail: each one is fed a fabricated history that breaks exactly one safety
// property and must report it (and a clean history must report nothing). A checker that cannot fail proves
// nothing about the runs it passes.
import {
  type EffectSink,
  GROUP_HEADER_BYTES,
  type GroupEntry,
  type GroupEntryResult,
  initialConfig,
  Replica,
  type ReplicaEvent,
} from "@palf/core";
import { describe, expect, it } from "vitest";
import { type AppendRecord, Checker } from "./checker.ts";

const G = 1;
const PAYLOAD = 4;

const noSink: EffectSink = { persist() {}, send() {}, result() {}, event() {}, wake() {} };

/** A group entry body in the core's entry layout: one data entry per CSN, payload = 4 bytes of `fill`. */
function body(csns: number[], fill: number): Buffer {
  const b = Buffer.alloc(csns.length * (16 + PAYLOAD));
  csns.forEach((csn, i) => {
    const at = i * (16 + PAYLOAD);
    b.writeUInt32LE(PAYLOAD, at);
    b.writeDoubleLE(csn, at + 8);
    b.fill(fill, at + 16, at + 16 + PAYLOAD);
  });
  return b;
}

function entry(lsn: number, pid: number, csns: number[], accum: number, fill = pid): GroupEntry {
  const b = body(csns, fill);
  return {
    pid,
    lsn,
    end: lsn + GROUP_HEADER_BYTES + b.length,
    count: csns.length,
    maxCsn: Math.max(...csns),
    flags: 0,
    checksum: 0,
    accum,
    committedEnd: 0,
    body: b,
  };
}

/** LSN of the i-th data entry inside a group entry. */
const entryLsn = (ge: GroupEntry, i: number) => ge.lsn + GROUP_HEADER_BYTES + i * (16 + PAYLOAD);

class World {
  readonly replicas = new Map<string, Replica>();
  private readonly logs = new Map<string, GroupEntry[]>();
  readonly checker = new Checker((node, group) => (group === G ? this.replicas.get(node) : undefined));
  constructor(ids: string[]) {
    for (const id of ids) this.load(id, []);
  }
  /** Puts entries into `id`'s log (chained: each entry starts where the log ends): the replica recovers it. */
  give(id: string, ...entries: GroupEntry[]): void {
    this.load(id, [...(this.logs.get(id) ?? []), ...entries]);
  }
  private load(id: string, entries: GroupEntry[]): void {
    const config = initialConfig(["a", "b", "c"]);
    const image = {
      meta: { promisedPid: 0, highestBallot: 0 },
      base: { lsn: 0, pid: 0, accum: 0, csn: 0, config },
      entries,
    };
    this.logs.set(id, entries);
    this.replicas.set(id, new Replica({ group: G, self: id, initialConfig: config }, noSink, 0, image));
  }
  committed(id: string, committedEnd: number): void {
    this.event(id, { type: "committed", group: G, committedEnd });
  }
  event(id: string, e: ReplicaEvent): void {
    this.checker.onEvent(id, e);
  }
  leader(id: string, pid: number): void {
    this.event(id, { type: "role", group: G, role: "leader", pid, at: 0 });
  }
  result(id: string, outcome: GroupEntryResult["outcome"], pid: number, from: number, to: number): void {
    this.checker.onResult(id, { group: G, outcome, pid, from, to, appends: [] });
  }
  append(id: string, ge: GroupEntry, i: number, overrides: Partial<AppendRecord> = {}): AppendRecord {
    const lsn = entryLsn(ge, i);
    const rec: AppendRecord = {
      id: lsn,
      group: G,
      node: id,
      pid: ge.pid,
      lsn,
      csn: 0,
      payload: Buffer.alloc(PAYLOAD, ge.body[16]!),
      result: undefined,
      lost: false,
      ...overrides,
    };
    this.checker.recordAppend(rec);
    return rec;
  }
}

describe("checker: a clean history passes", () => {
  it("one leader per pid, matching committed logs, one result per append, CSN increasing", () => {
    const w = new World(["a", "b", "c"]);
    const e1 = entry(0, 1, [1, 2], 11);
    const e2 = entry(e1.end, 1, [3], 12);
    for (const id of ["a", "b", "c"]) w.give(id, e1, e2);
    w.leader("a", 1);
    const ap = [w.append("a", e1, 0), w.append("a", e1, 1), w.append("a", e2, 0)];
    for (const id of ["a", "b", "c"]) w.committed(id, e2.end);
    w.result("a", "committed", 1, e1.lsn, e1.end);
    w.result("a", "committed", 1, e2.lsn, e2.end);
    // A later leader that holds the committed log.
    const e3 = entry(e2.end, 2, [4], 13);
    w.give("b", e3);
    w.leader("b", 2);
    w.checker.checkLogMatching(G, [...w.replicas.values()]);
    w.checker.finish(true);
    expect(w.checker.violations).toEqual([]);
    expect(ap.map((a) => a.result)).toEqual(["committed", "committed", "committed"]);
    expect(w.checker.counts()).toMatchObject({ appends: 3, committed: 3, failed: 0 });
    expect(w.checker.elections).toBe(2);
  });
});

describe("checker: each violation is caught", () => {
  it("election safety: two leaders for one pid", () => {
    const w = new World(["a", "b"]);
    w.leader("a", 3);
    w.leader("a", 3); // the same leader again is fine
    expect(w.checker.violations).toEqual([]);
    w.leader("b", 3);
    expect(w.checker.violations).toEqual([
      expect.stringMatching(/election safety: a and b both led group 1 pid 3/),
    ]);
  });

  it("state machine safety: the same LSN committed with different pids on two replicas", () => {
    const w = new World(["a", "b"]);
    w.give("a", entry(0, 1, [1], 11));
    w.give("b", entry(0, 2, [1], 22));
    w.committed("a", w.replicas.get("a")!.log.end);
    expect(w.checker.violations).toEqual([]);
    w.committed("b", w.replicas.get("b")!.log.end);
    expect(w.checker.violations).toEqual([expect.stringMatching(/state machine safety: group 1 lsn 0/)]);
  });

  it("state machine safety: same pid and LSN but different content (accum)", () => {
    const w = new World(["a", "b"]);
    w.give("a", entry(0, 1, [1], 11));
    w.give("b", entry(0, 1, [1], 99));
    w.committed("a", w.replicas.get("a")!.log.end);
    w.committed("b", w.replicas.get("b")!.log.end);
    expect(w.checker.violations.join()).toMatch(/state machine safety/);
  });

  it("exactly one result: an append reported committed twice", () => {
    const w = new World(["a"]);
    const e1 = entry(0, 1, [1], 11);
    w.give("a", e1);
    w.append("a", e1, 0);
    w.result("a", "committed", 1, e1.lsn, e1.end);
    expect(w.checker.violations).toEqual([]);
    w.result("a", "committed", 1, e1.lsn, e1.end);
    expect(w.checker.violations).toEqual([
      expect.stringMatching(/second result for group 1 pid 1 at 0 on a/),
    ]);
  });

  it("exactly one result: committed and then failed is also a second result", () => {
    const w = new World(["a"]);
    w.result("a", "committed", 1, 0, 100);
    w.result("a", "failed", 1, 0, 100);
    expect(w.checker.violations.join()).toMatch(/second result/);
  });

  it("failed => never committed: a failed append that is in the committed log", () => {
    const w = new World(["a", "b"]);
    const e1 = entry(0, 1, [1], 11);
    w.give("a", e1);
    w.give("b", e1);
    const ap = w.append("a", e1, 0);
    w.result("a", "failed", 1, e1.lsn, e1.end);
    w.committed("b", e1.end);
    expect(ap.result).toBe("failed");
    expect(w.checker.violations).toEqual([]);
    w.checker.finish(true);
    expect(w.checker.violations).toEqual([expect.stringMatching(/reported failed but was committed/)]);
  });

  it("committed => in the committed log: a committed append whose LSN holds another pid", () => {
    const w = new World(["a", "b"]);
    const mine = entry(0, 1, [1], 11);
    const theirs = entry(0, 2, [1], 22);
    w.give("a", mine);
    w.give("b", theirs);
    w.append("a", mine, 0);
    w.result("a", "committed", 1, mine.lsn, mine.end);
    w.committed("b", theirs.end);
    w.checker.finish(true);
    expect(w.checker.violations).toEqual([
      expect.stringMatching(/reported committed but group 1 lsn \d+ holds pid 2/),
    ]);
  });

  it("committed => the bytes read back: a committed append whose payload differs", () => {
    const w = new World(["a"]);
    const e1 = entry(0, 1, [1], 11, 7);
    w.give("a", e1);
    w.append("a", e1, 0, { payload: Buffer.alloc(PAYLOAD, 8) });
    w.result("a", "committed", 1, e1.lsn, e1.end);
    w.committed("a", e1.end);
    w.checker.finish(true);
    expect(w.checker.violations).toEqual([expect.stringMatching(/committed but its bytes differ/)]);
  });

  it("an append that never got a result (unless its node crashed)", () => {
    const w = new World(["a", "b"]);
    const e1 = entry(0, 1, [1], 11);
    w.append("a", e1, 0);
    w.append("b", e1, 0);
    w.checker.onCrash("b");
    w.checker.finish(false);
    expect(w.checker.violations).toEqual([]);
    w.checker.finish(true);
    expect(w.checker.violations).toEqual([expect.stringMatching(/\(group 1 on a\) never got a result/)]);
  });

  it("CSN order: CSN going backwards inside a committed group entry", () => {
    const w = new World(["a"]);
    w.give("a", entry(0, 1, [5, 3], 11));
    w.committed("a", w.replicas.get("a")!.log.end);
    expect(w.checker.violations).toEqual([expect.stringMatching(/csn order: group 1 lsn \d+ csn 3 after 5/)]);
  });

  it("CSN order: a group entry starting at or below the previous one's max CSN", () => {
    const w = new World(["a"]);
    const e1 = entry(0, 1, [5, 6], 11);
    w.give("a", e1, entry(e1.end, 1, [6, 7], 12));
    w.committed("a", w.replicas.get("a")!.log.end);
    expect(w.checker.violations).toEqual([
      expect.stringMatching(/csn order: group 1 entry at \d+ starts at csn 6 after 6/),
    ]);
  });

  it("leader completeness: a new leader without a committed entry", () => {
    const w = new World(["a", "b"]);
    const e1 = entry(0, 1, [1], 11);
    w.give("a", e1);
    w.leader("a", 1);
    w.committed("a", e1.end);
    w.leader("b", 2);
    expect(w.checker.violations).toEqual([
      expect.stringMatching(/leader completeness: b leads group 1 pid 2/),
    ]);
  });

  it("leader completeness: a new leader holding a different entry at a committed LSN", () => {
    const w = new World(["a", "b"]);
    w.give("a", entry(0, 1, [1], 11));
    w.give("b", entry(0, 1, [1], 12));
    w.committed("a", w.replicas.get("a")!.log.end);
    w.leader("b", 2);
    expect(w.checker.violations.join()).toMatch(/leader completeness/);
  });

  it("log matching: same pid at the same LSN with different content on two replicas", () => {
    const w = new World(["a", "b"]);
    w.give("a", entry(0, 1, [1], 11));
    w.give("b", entry(0, 1, [1], 12));
    w.checker.checkLogMatching(G, [...w.replicas.values()]);
    expect(w.checker.violations).toEqual([
      expect.stringMatching(/log matching: group 1 lsn 0 pid 1 differs between a and b/),
    ]);
  });

  it("a committed end that the replica's log does not back", () => {
    const w = new World(["a"]);
    const e1 = entry(0, 1, [1], 11);
    w.give("a", e1);
    w.committed("a", e1.end + 10);
    expect(w.checker.violations.join()).toMatch(/is not backed by its log/);
  });

  it("lease overlap: reported once per pair of holders", () => {
    const w = new World(["a", "b"]);
    w.checker.onLeaseOverlap(G, "a", "b", 10);
    w.checker.onLeaseOverlap(G, "b", "a", 11);
    expect(w.checker.violations).toEqual([
      expect.stringMatching(/lease overlap: a and b both hold group 1's lease at t=10.000/),
    ]);
  });

  it("idempotency: one session's (id, seq) committed at two LSNs", () => {
    const w = new World(["a"]);
    const tagged = (lsn: number, accum: number): GroupEntry => {
      // One data entry with a session tag (flag 1): header, then session id and seq, then the payload.
      const b = Buffer.alloc(16 + 16 + PAYLOAD);
      b.writeUInt32LE(PAYLOAD, 0);
      b[5] = 1;
      b.writeDoubleLE(lsn + 1, 8);
      b.writeDoubleLE(7, 16);
      b.writeDoubleLE(3, 24);
      return {
        ...entry(lsn, 1, [lsn + 1], accum),
        flags: 2,
        body: b,
        end: lsn + GROUP_HEADER_BYTES + b.length,
      };
    };
    const e1 = tagged(0, 11);
    w.give("a", e1);
    w.committed("a", e1.end);
    expect(w.checker.violations).toEqual([]);
    w.give("a", tagged(e1.end, 12));
    w.committed("a", w.replicas.get("a")!.log.end);
    expect(w.checker.violations).toEqual([
      expect.stringMatching(/idempotency: group 1 session 7 seq 3 committed twice \(lsn \d+ and \d+\)/),
    ]);
  });

  it("a replica that truncates below what it reported committed (unless it crashed since)", () => {
    const w = new World(["a", "b"]);
    const e1 = entry(0, 1, [1], 11);
    w.give("a", e1);
    w.give("b", e1);
    w.committed("a", e1.end);
    w.committed("b", e1.end);
    w.checker.onCrash("b");
    w.event("b", { type: "truncated", group: G, lsn: 0, role: "follower" });
    expect(w.checker.violations).toEqual([]);
    w.event("a", { type: "truncated", group: G, lsn: 0, role: "follower" });
    expect(w.checker.violations).toEqual([
      expect.stringMatching(/a truncated group 1 at 0, below its committed end \d+/),
    ]);
  });

  it("a halted replica and a leader that truncates are violations", () => {
    const w = new World(["a"]);
    w.event("a", { type: "halted", group: G, reason: "boom" });
    w.event("a", { type: "truncated", group: G, lsn: 64, role: "leader" });
    w.event("a", { type: "truncated", group: G, lsn: 64, role: "follower" });
    expect(w.checker.violations).toEqual([
      expect.stringMatching(/a halted group 1: boom/),
      expect.stringMatching(/leader a truncated group 1 at 64/),
    ]);
  });
});
