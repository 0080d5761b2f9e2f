// The in-memory log of one replica: append, lookups, truncation at boundaries only, recycling (advanceBase),
// the Raft-style run hint, CSN search, and the config history that must revert when a config entry is cut.
import { describe, expect, it } from "vitest";
import { GROUP_HEADER_BYTES, type GroupEntry } from "./group-entry.ts";
import { GroupLog } from "./group-log.ts";
import { EntryKind, encodedEntrySize } from "./log-entry.ts";
import { encodeConfig, initialConfig } from "./member-config.ts";
import { OpenGroupEntry } from "./open-group-entry.ts";
import type { BaseInfo, MemberConfig } from "./types.ts";

const cfg0 = initialConfig(["a", "b", "c"]);
const emptyBase: BaseInfo = { lsn: 0, pid: 0, accum: 0, csn: 0, config: cfg0 };

/** Builds the next group entry for `log`: data entries with the given CSNs (or one config entry). */
function next(log: GroupLog, pid: number, csns: number[], config?: MemberConfig): GroupEntry {
  const o = new OpenGroupEntry(log.end, log.lastCsn, 64);
  if (config) o.add(EntryKind.config, csns[0] ?? log.lastCsn + 1, encodeConfig(config), undefined);
  else for (const c of csns) o.add(EntryKind.data, c, new Uint8Array([c & 255, 1, 2]), undefined);
  return o.freeze(pid, 0, log.lastAccum);
}

function push(log: GroupLog, pid: number, csns: number[], config?: MemberConfig): GroupEntry {
  const ge = next(log, pid, csns, config);
  log.append(ge);
  return ge;
}

describe("GroupLog", () => {
  it("an empty log reports its base", () => {
    const log = new GroupLog(emptyBase);
    expect(log.end).toBe(0);
    expect(log.lastPid).toBe(0);
    expect(log.lastCsn).toBe(0);
    expect(log.size).toBe(0);
    expect(log.config).toBe(cfg0);
    expect(log.pidEndingAt(0)).toBe(0);
    expect(log.containing(0)).toBeUndefined();
  });

  it("append is contiguous; lookups find entries by LSN and boundary", () => {
    const log = new GroupLog(emptyBase);
    const e1 = push(log, 1, [10, 11]);
    const e2 = push(log, 1, [12]);
    const e3 = push(log, 2, [20]);
    expect(e1.lsn).toBe(0);
    expect(e1.end).toBe(GROUP_HEADER_BYTES + 2 * encodedEntrySize(3, false));
    expect(e2.lsn).toBe(e1.end);
    expect(log.end).toBe(e3.end);
    expect(log.lastPid).toBe(2);
    expect(log.lastCsn).toBe(20);
    expect(log.lastAccum).toBe(e3.accum);
    expect(log.size).toBe(3);
    expect(log.containing(e2.lsn + 5)).toBe(e2);
    expect(log.containing(e3.end)).toBeUndefined();
    expect(log.startingAt(e2.lsn)).toBe(e2);
    expect(log.startingAt(e2.lsn + 1)).toBeUndefined();
    expect(log.pidEndingAt(e2.end)).toBe(1);
    expect(log.pidEndingAt(e3.end)).toBe(2);
    expect(log.pidEndingAt(e2.end - 1)).toBeUndefined();
    expect(log.accumEndingAt(e1.end)).toBe(e1.accum);
    expect(log.accumEndingAt(0)).toBe(0);
    // Appending anywhere but the end throws.
    expect(() => log.append({ ...next(log, 2, [30]), lsn: e3.lsn })).toThrow(/log ends at/);
    expect(log.end).toBe(e3.end);
  });

  it("range returns whole entries from a boundary, bounded by bytes (at least one) and by `to`", () => {
    const log = new GroupLog(emptyBase);
    const es = [push(log, 1, [1]), push(log, 1, [2]), push(log, 1, [3])];
    expect(log.range(0, 1)).toEqual([es[0]]);
    expect(log.range(0, Number.POSITIVE_INFINITY)).toEqual(es);
    expect(log.range(es[1]!.lsn, Number.POSITIVE_INFINITY, es[1]!.end)).toEqual([es[1]]);
    expect(log.range(log.end, 100)).toEqual([]);
  });

  it("truncateFrom drops the suffix at an entry boundary, and refuses anywhere else", () => {
    const log = new GroupLog(emptyBase);
    const e1 = push(log, 1, [1]);
    const e2 = push(log, 1, [2]);
    push(log, 1, [3]);
    expect(() => log.truncateFrom(e2.lsn + 1)).toThrow(/not an entry boundary/);
    expect(log.size).toBe(3);
    log.truncateFrom(e2.lsn);
    expect(log.end).toBe(e1.end);
    expect(log.lastCsn).toBe(1);
    expect(log.containing(e2.lsn)).toBeUndefined();
    // Truncating at the end is a no-op; appending continues at the boundary.
    log.truncateFrom(log.end);
    expect(log.size).toBe(1);
    const again = push(log, 2, [5]);
    expect(again.lsn).toBe(e1.end);
  });

  it("truncation reverts the config to the one before the cut config entry", () => {
    const log = new GroupLog(emptyBase);
    push(log, 1, [1]);
    const cfg1 = { ...initialConfig(["a", "b", "c", "d"]), version: { pid: 1, seq: 1 } };
    const c1 = push(log, 1, [2], cfg1);
    expect(log.config).toEqual(cfg1);
    expect(log.configLsn).toBe(c1.lsn + GROUP_HEADER_BYTES);
    push(log, 1, [3]);
    const cfg2 = { ...initialConfig(["a", "b", "c"]), version: { pid: 1, seq: 2 } };
    const c2 = push(log, 1, [4], cfg2);
    expect(log.config).toEqual(cfg2);
    log.truncateFrom(c2.lsn);
    expect(log.config).toEqual(cfg1);
    log.truncateFrom(c1.lsn);
    expect(log.config).toBe(cfg0);
    expect(log.configLsn).toBe(0);
  });

  it("advanceBase forgets entries below a boundary and carries pid, accum, csn and config into the base", () => {
    const log = new GroupLog(emptyBase);
    push(log, 1, [1]);
    const cfg1 = { ...initialConfig(["a", "b", "c", "d"]), version: { pid: 1, seq: 1 } };
    push(log, 1, [2], cfg1);
    const e3 = push(log, 2, [7, 8]);
    const e4 = push(log, 2, [9]);
    expect(log.advanceBase(e3.lsn + 1)).toBeUndefined(); // not a boundary
    expect(log.advanceBase(0)).toBeUndefined(); // not above the base
    const b = log.advanceBase(e4.lsn)!;
    expect(b).toEqual({ lsn: e4.lsn, pid: 2, accum: e3.accum, csn: 8, config: cfg1 });
    expect(log.base).toEqual(b);
    expect(log.size).toBe(1);
    expect(log.containing(e3.lsn)).toBeUndefined();
    expect(log.startingAt(e4.lsn)).toBe(e4);
    expect(log.pidEndingAt(e4.lsn)).toBe(2);
    expect(log.accumEndingAt(e4.lsn)).toBe(e3.accum);
    expect(log.config).toEqual(cfg1);
    expect(log.all()).toEqual([e4]);
    expect(() => log.truncateFrom(e3.lsn)).toThrow(/below base/);
    // Up to the end: the log is empty but keeps its position.
    const b2 = log.advanceBase(log.end)!;
    expect(b2.lsn).toBe(e4.end);
    expect(log.end).toBe(e4.end);
    expect(log.lastPid).toBe(2);
    expect(log.lastCsn).toBe(9);
    expect(push(log, 3, [10]).lsn).toBe(e4.end);
  });

  it("advanceBase keeps working after compacting many recycled entries", () => {
    const log = new GroupLog(emptyBase);
    const es: GroupEntry[] = [];
    for (let i = 1; i <= 3000; i++) es.push(push(log, 1, [i]));
    log.advanceBase(es[2500]!.lsn);
    expect(log.size).toBe(500);
    expect(log.containing(es[2600]!.lsn + 3)).toBe(es[2600]);
    expect(log.firstWithCsnAtLeast(2700, log.end)).toBe(es[2699]);
    expect(log.runStart(es[2999]!.lsn)).toBe(es[2500]!.lsn);
  });

  it("runStart gives the start of the same-pid run containing an LSN", () => {
    const log = new GroupLog(emptyBase);
    const e = [push(log, 1, [1]), push(log, 1, [2]), push(log, 2, [3]), push(log, 2, [4]), push(log, 2, [5])];
    expect(log.runStart(e[3]!.lsn + 2)).toBe(e[2]!.lsn);
    expect(log.runStart(e[4]!.lsn)).toBe(e[2]!.lsn);
    expect(log.runStart(e[1]!.lsn)).toBe(0);
    // Beyond the log: the end.
    expect(log.runStart(log.end + 100)).toBe(log.end);
  });

  it("firstWithCsnAtLeast finds the first entry whose max CSN reaches the target, below `to`", () => {
    const log = new GroupLog(emptyBase);
    const e1 = push(log, 1, [10, 20]);
    const e2 = push(log, 1, [30]);
    const e3 = push(log, 1, [40, 50]);
    expect(log.firstWithCsnAtLeast(0, log.end)).toBe(e1);
    expect(log.firstWithCsnAtLeast(20, log.end)).toBe(e1);
    expect(log.firstWithCsnAtLeast(21, log.end)).toBe(e2);
    expect(log.firstWithCsnAtLeast(45, log.end)).toBe(e3);
    expect(log.firstWithCsnAtLeast(51, log.end)).toBeUndefined();
    // Entries ending past `to` (uncommitted) are not returned.
    expect(log.firstWithCsnAtLeast(45, e3.lsn)).toBeUndefined();
    expect(log.firstWithCsnAtLeast(25, e2.end)).toBe(e2);
  });

  it("resetTo starts over at another replica's base", () => {
    const log = new GroupLog(emptyBase);
    push(log, 1, [1]);
    const cfg1 = { ...initialConfig(["a", "b", "c", "d"]), version: { pid: 1, seq: 1 } };
    push(log, 1, [2], cfg1);
    const base: BaseInfo = { lsn: 5000, pid: 4, accum: 123, csn: 99, config: cfg0 };
    log.resetTo(base);
    expect(log.end).toBe(5000);
    expect(log.lastPid).toBe(4);
    expect(log.lastCsn).toBe(99);
    expect(log.config).toBe(cfg0);
    expect(log.size).toBe(0);
    expect(push(log, 5, [100]).lsn).toBe(5000);
  });
});

describe("GroupLog body eviction", () => {
  it("drops old bodies from memory and reads them back from storage, byte for byte", () => {
    const log = new GroupLog(emptyBase);
    const written = [push(log, 1, [1, 2]), push(log, 1, [3]), push(log, 1, [4, 5]), push(log, 1, [6])];
    const storage = new Map(written.map((e) => [e.lsn, { ...e, body: Buffer.from(e.body) }]));
    let loads = 0;
    log.setColdLoader((lsn) => {
      loads++;
      return storage.get(lsn);
    });
    log.evictBodies(written[2]!.end);
    expect(log.all()[0]!.body.length).toBe(0);
    expect(log.all()[3]!.body.length).toBeGreaterThan(0);
    // Structure needs no loads; reads do.
    expect(log.pidEndingAt(written[1]!.end)).toBe(1);
    expect(log.accumEndingAt(written[2]!.end)).toBe(written[2]!.accum);
    expect(loads).toBe(0);
    expect(Buffer.compare(log.containing(written[1]!.lsn)!.body, written[1]!.body)).toBe(0);
    expect(log.range(0, 1 << 20).map((e) => e.body.length)).toEqual(written.map((e) => e.body.length));
    expect(loads).toBeGreaterThan(0);
  });

  it("refuses a stored entry that is not what was written (never serves a wrong body)", () => {
    const log = new GroupLog(emptyBase);
    const a = push(log, 1, [1]);
    push(log, 1, [2]);
    log.setColdLoader(() => ({ ...a, accum: a.accum ^ 1 }));
    log.evictBodies(a.end);
    expect(() => log.containing(a.lsn)).toThrow(/not in storage as it was written/);
  });
});
