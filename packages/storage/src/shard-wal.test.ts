// Unit tests of the shard WAL: every record kind, validation, group commit, the read path,
// and the fatal fdatasync error.
import fs from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { WalError } from "./errors.ts";
import { openShardWal, type ShardWal } from "./shard-wal.ts";
import type { WalRecord } from "./types.ts";
import { payloadFor, removeDir, tempDir } from "./wal-model.test-support.ts";

const dirs: string[] = [];
const open: ShardWal[] = [];

async function fresh(options = {}): Promise<{ dir: string; wal: ShardWal }> {
  const dir = tempDir();
  dirs.push(dir);
  const wal = await openShardWal(dir, options);
  open.push(wal);
  return { dir, wal };
}

async function reopen(wal: ShardWal, options = {}): Promise<ShardWal> {
  await wal.close();
  const again = await openShardWal(wal.dir, options);
  open.push(again);
  return again;
}

afterEach(async () => {
  vi.restoreAllMocks();
  for (const w of open.splice(0)) await w.close().catch(() => {});
  for (const d of dirs.splice(0)) removeDir(d);
});

function entry(group: number, lsn: number, length = 100, pid = 1): WalRecord & { kind: "entry" } {
  return { kind: "entry", group, lsn, end: lsn + length, pid, bytes: payloadFor(group, lsn, pid, 0, length) };
}

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof WalError ? e.code : `not a WalError: ${String(e)}`;
  }
  return undefined;
}

describe("record kinds", () => {
  it("entries are readable before and after flush and survive reopen", async () => {
    let { wal } = await fresh();
    wal.submit([entry(7, 0), entry(7, 100), entry(8, 5000, 300)]);
    // Queued records are visible at once (read from the write batch).
    expect(wal.readEntry(7, 100)).toEqual(entry(7, 100).bytes);
    const res = await wal.flush();
    expect(res).toMatchObject({ seq: 1, records: 3 });
    expect(wal.readEntry(8, 5000)).toEqual(entry(8, 5000, 300).bytes);
    wal = await reopen(wal);
    expect(wal.groups()).toEqual([7, 8]);
    expect(wal.groupState(7)).toEqual({
      entries: [
        { lsn: 0, end: 100, pid: 1 },
        { lsn: 100, end: 200, pid: 1 },
      ],
      end: 200,
    });
    expect(wal.readEntry(7, 0)).toEqual(entry(7, 0).bytes);
    expect(wal.readEntry(7, 50)).toBeUndefined();
    expect(wal.readEntry(9, 0)).toBeUndefined();
  });

  it("truncate drops the suffix; a higher pid appends in its place; durable", async () => {
    let { wal } = await fresh();
    wal.submit([entry(1, 0), entry(1, 100), entry(1, 200)]);
    await wal.flush();
    wal.submit([{ kind: "truncate", group: 1, lsn: 100 }, entry(1, 100, 50, 2)]);
    expect(wal.readEntry(1, 200)).toBeUndefined();
    await wal.flush();
    wal = await reopen(wal);
    expect(wal.groupState(1)?.entries).toEqual([
      { lsn: 0, end: 100, pid: 1 },
      { lsn: 100, end: 150, pid: 2 },
    ]);
    expect(wal.readEntry(1, 100)).toEqual(entry(1, 100, 50, 2).bytes);
  });

  it("meta: latest wins, across reopen", async () => {
    let { wal } = await fresh();
    wal.submit([{ kind: "meta", group: 3, bytes: Uint8Array.of(1) }]);
    await wal.flush();
    wal.submit([{ kind: "meta", group: 3, bytes: Uint8Array.of(2, 2) }]);
    await wal.flush();
    wal = await reopen(wal);
    expect(wal.groupState(3)).toEqual({ meta: Uint8Array.of(2, 2), entries: [] });
  });

  it("base drops entries entirely below it and may jump past the end (rebuild)", async () => {
    let { wal } = await fresh();
    wal.submit([entry(1, 0), entry(1, 100), entry(1, 200)]);
    wal.submit([{ kind: "base", group: 1, lsn: 150, bytes: Uint8Array.of(9) }]);
    expect(wal.groupState(1)?.entries.map((e) => e.lsn)).toEqual([100, 200]);
    await wal.flush();
    wal = await reopen(wal);
    expect(wal.groupState(1)).toMatchObject({ base: { lsn: 150, bytes: Uint8Array.of(9) } });
    expect(wal.groupState(1)?.entries.map((e) => e.lsn)).toEqual([100, 200]);
    wal.submit([{ kind: "base", group: 1, lsn: 10_000, bytes: Uint8Array.of(8) }]);
    expect(wal.groupState(1)?.entries).toEqual([]);
    expect(codeOf(() => wal.submit([entry(1, 300)]))).toBe("LSN_NOT_FOLLOWING");
    wal.submit([entry(1, 10_000)]);
    await wal.flush();
    wal = await reopen(wal);
    expect(wal.groupState(1)).toMatchObject({
      base: { lsn: 10_000 },
      entries: [{ lsn: 10_000 }],
      end: 10_100,
    });
  });

  it("drop-group removes the group; nothing of it survives recovery", async () => {
    let { wal } = await fresh();
    wal.submit([{ kind: "meta", group: 5, bytes: Uint8Array.of(1) }, entry(5, 0), entry(6, 0)]);
    await wal.flush();
    wal.submit([{ kind: "drop-group", group: 5 }]);
    expect(wal.groups()).toEqual([6]);
    await wal.flush();
    wal = await reopen(wal);
    expect(wal.groups()).toEqual([6]);
    expect(wal.groupState(5)).toBeUndefined();
    // The id can be used again, from any LSN.
    wal.submit([entry(5, 777)]);
    await wal.flush();
    wal = await reopen(wal);
    expect(wal.groupState(5)?.entries).toEqual([{ lsn: 777, end: 877, pid: 1 }]);
  });
});

/** The code of the error submit refused `group` with, or of the error it threw. */
function refusalOf(fn: () => ReadonlyMap<number, WalError>, group: number): string | undefined {
  let refused: ReadonlyMap<number, WalError> | undefined;
  const thrown = codeOf(() => {
    refused = fn();
  });
  return thrown ?? refused?.get(group)?.code;
}

describe("validation", () => {
  it("refuses a group's malformed or oversized records with typed errors, throws for ones out of order, and queues nothing invalid", async () => {
    const { wal } = await fresh({ segmentBytes: 8192 });
    wal.submit([entry(1, 0)]);
    expect(refusalOf(() => wal.submit([{ kind: "nope", group: 1 } as unknown as WalRecord]), 1)).toBe(
      "INVALID_RECORD",
    );
    expect(codeOf(() => wal.submit([entry(1, 50)]))).toBe("LSN_NOT_FOLLOWING");
    expect(refusalOf(() => wal.submit([entry(1, 100, 9000)]), 1)).toBe("TOO_LARGE");
    expect(refusalOf(() => wal.submit([{ ...entry(1, 100), end: 100 }]), 1)).toBe("INVALID_RECORD");
    expect(refusalOf(() => wal.submit([{ ...entry(1, 100), group: -1 }]), -1)).toBe("INVALID_RECORD");
    expect(refusalOf(() => wal.submit([{ ...entry(1, 100), lsn: 1.5 }]), 1)).toBe("INVALID_RECORD");
    wal.submit([{ kind: "base", group: 1, lsn: 50, bytes: new Uint8Array(0) }]);
    expect(codeOf(() => wal.submit([{ kind: "base", group: 1, lsn: 40, bytes: new Uint8Array(0) }]))).toBe(
      "INVALID_RECORD",
    );
    expect(codeOf(() => wal.submit([{ kind: "truncate", group: 1, lsn: 10 }]))).toBe("INVALID_RECORD");
    // A bad record of a group: nothing of that group in the array is queued.
    const before = wal.stats().records;
    expect(refusalOf(() => wal.submit([entry(1, 100), entry(1, 200, 9000)]), 1)).toBe("TOO_LARGE");
    expect(wal.stats().records).toBe(before);
    expect((await wal.flush()).records).toBe(2);
    // Not a record at all: no group to refuse, so the whole array is refused.
    expect(codeOf(() => wal.submit([entry(2, 0), null as unknown as WalRecord]))).toBe("INVALID_RECORD");
    expect(wal.groupState(2)).toBeUndefined();
  });

  it("one group's bad record never fails the other groups of a batch: they are queued and made durable", async () => {
    const { wal } = await fresh();
    const batch: WalRecord[] = [
      entry(1, 0),
      entry(2 ** 32, 0), // the record that once halted every group of its batch
      { kind: "meta", group: 2 ** 32, bytes: Buffer.alloc(16) },
      entry(2, 0),
      entry(1, 100),
    ];
    const refused = wal.submit(batch);
    expect([...refused.keys()]).toEqual([2 ** 32]);
    expect(refused.get(2 ** 32)?.message).toMatch(/uint32/);
    expect((await wal.flush()).records).toBe(3);
    expect([...wal.groups()].sort()).toEqual([1, 2]);
    expect(wal.submit([entry(1, 200), entry(0xffff_ffff, 0)]).size).toBe(0);
  });
});

describe("flush", () => {
  it("group commit: a flush called while one runs waits and covers everything queued meanwhile", async () => {
    const { wal } = await fresh();
    expect(await wal.flush()).toEqual({ seq: 0, records: 0, bytes: 0 });
    wal.submit([entry(1, 0)]);
    expect(wal.nextSeq).toBe(1);
    const first = wal.flush();
    wal.submit([entry(1, 100)]);
    expect(wal.nextSeq).toBe(2);
    const second = wal.flush();
    wal.submit([entry(1, 200)]);
    const third = wal.flush();
    expect(third).toBe(second); // callers share the queued flush
    const [a, b] = await Promise.all([first, second]);
    expect(a).toMatchObject({ seq: 1, records: 1 });
    expect(b).toMatchObject({ seq: 2, records: 2 });
    expect(wal.durableSeq).toBe(2);
    expect(wal.stats().flushes).toBe(2);
    // Nothing queued, nothing running: resolves at once with the durable point.
    expect(await wal.flush()).toEqual({ seq: 2, records: 0, bytes: 0 });
  });

  it("an fdatasync error is fatal: the flush rejects and every later call throws", async () => {
    const { wal } = await fresh();
    wal.submit([entry(1, 0)]);
    await wal.flush();
    vi.spyOn(fs, "fdatasync").mockImplementation(((_fd: number, cb: (err: Error | null) => void) =>
      cb(Object.assign(new Error("EIO: i/o error"), { code: "EIO" }))) as typeof fs.fdatasync);
    wal.submit([entry(1, 100)]);
    const err = await wal.flush().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WalError);
    expect((err as WalError).code).toBe("FAILED");
    vi.restoreAllMocks();
    // Never retried, even though fdatasync would work again now.
    expect(codeOf(() => wal.submit([entry(1, 200)]))).toBe("FAILED");
    expect(codeOf(() => wal.readEntry(1, 0))).toBe("FAILED");
    await expect(wal.flush()).rejects.toMatchObject({ code: "FAILED" });
    await expect(wal.recycle()).rejects.toMatchObject({ code: "FAILED" });
  });

  it("close flushes what is queued; a closed WAL refuses calls", async () => {
    const { wal } = await fresh();
    wal.submit([entry(1, 0)]);
    await wal.close();
    expect(codeOf(() => wal.submit([entry(1, 100)]))).toBe("CLOSED");
    const again = await openShardWal(wal.dir);
    open.push(again);
    expect(again.groupState(1)?.entries).toHaveLength(1);
  });

  it("a batch larger than a segment spans several segments", async () => {
    let { wal } = await fresh({ segmentBytes: 4096 });
    const records = [];
    for (let i = 0; i < 100; i++) records.push(entry(1, i * 100));
    wal.submit(records);
    await wal.flush();
    expect(wal.stats().segments).toBeGreaterThan(3);
    wal = await reopen(wal, { segmentBytes: 4096 });
    expect(wal.groupState(1)?.entries).toHaveLength(100);
    for (const r of records) expect(wal.readEntry(1, r.lsn)).toEqual(r.bytes);
  });
});

describe("read path", () => {
  it("cold reads come from the file, then from the cache; results are small own buffers", async () => {
    let { wal } = await fresh();
    wal.submit([entry(1, 0, 1000), entry(1, 1000, 1000)]);
    await wal.flush();
    wal = await reopen(wal);
    const first = wal.readEntry(1, 1000)!;
    expect(first).toEqual(entry(1, 1000, 1000).bytes);
    expect(wal.stats()).toMatchObject({ cacheMisses: 1, cacheHits: 0 });
    expect(first.buffer.byteLength).toBeLessThanOrEqual(1000 + 64); // not a view of a big chunk
    expect(wal.readEntry(1, 1000)).toEqual(first);
    expect(wal.stats()).toMatchObject({ cacheMisses: 1, cacheHits: 1 });
  });

  it("reads of queued records are copies, not views of the write batch", async () => {
    const { wal } = await fresh();
    wal.submit([entry(1, 0, 200)]);
    const got = wal.readEntry(1, 0)!;
    expect(got.buffer.byteLength).toBe(200);
  });

  it("the cache is bounded by bytes", async () => {
    let { wal } = await fresh();
    for (let i = 0; i < 50; i++) wal.submit([entry(1, i * 1000, 1000)]);
    await wal.flush();
    wal = await reopen(wal, { cacheBytes: 5000 });
    for (let i = 0; i < 50; i++) wal.readEntry(1, i * 1000);
    for (let i = 0; i < 50; i++) wal.readEntry(1, i * 1000);
    // Everything evicted before its second read: no hits at all.
    expect(wal.stats()).toMatchObject({ cacheMisses: 100, cacheHits: 0 });
  });

  it("entries() iterates from an LSN and respects a truncate between steps", async () => {
    const { wal } = await fresh();
    wal.submit([entry(2, 0), entry(2, 100), entry(2, 200), entry(2, 300)]);
    await wal.flush();
    expect([...wal.entries(2, 100)].map((e) => e.lsn)).toEqual([100, 200, 300]);
    expect([...wal.entries(2, 150)].map((e) => e.lsn)).toEqual([200, 300]);
    const it = wal.entries(2, 0);
    expect(it.next().value).toMatchObject({ lsn: 0, end: 100, pid: 1, bytes: entry(2, 0).bytes });
    wal.submit([{ kind: "truncate", group: 2, lsn: 200 }]);
    expect([...it].map((e) => e.lsn)).toEqual([100]);
  });
});
