// ENOSPC on the write path: a write that meets ENOSPC before any byte of its batch is in place holds the flush
// (nothing acknowledged) and is retried until space returns, with the partial bytes cut first, so the WAL
// recovers every record exactly once; ENOSPC from fdatasync, or once part of the batch went in, stays fatal.
import { afterEach, describe, expect, it } from "vitest";
import { WalError } from "./errors.ts";
import { openShardWal } from "./shard-wal.ts";
import type { WalRecord } from "./types.ts";
import { realWalFs, type WalFs } from "./wal-fs.ts";
import { removeDir, tempDir } from "./wal-model.test-support.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) removeDir(d);
});

const enospc = () => Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });

/** realWalFs whose writes (or fdatasyncs) fail with ENOSPC while `full`; `partial` writes half first. */
function fullableFs() {
  const state = { full: false, partial: false, failSync: false, refusedWrites: 0 };
  const fs: WalFs = {
    ...realWalFs,
    write: (fd, buf, offset, length, position, cb) => {
      if (state.full) {
        state.refusedWrites++;
        if (state.partial && length > 1) {
          // Half the bytes land in the file, then the disk is full.
          realWalFs.write(fd, buf, offset, Math.floor(length / 2), position, () => cb(enospc(), 0));
          return;
        }
        queueMicrotask(() => cb(enospc(), 0));
        return;
      }
      realWalFs.write(fd, buf, offset, length, position, cb);
    },
    fdatasync: (fd, cb) => {
      if (state.failSync) queueMicrotask(() => cb(enospc()));
      else realWalFs.fdatasync(fd, cb);
    },
  };
  return { fs, state };
}

const entry = (group: number, lsn: number, n: number): WalRecord => ({
  kind: "entry",
  group,
  lsn,
  end: lsn + n,
  pid: 1,
  bytes: new Uint8Array(n).fill(lsn % 251),
});

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(cond()).toBe(true);
}

describe("ENOSPC on a WAL write", () => {
  for (const partial of [false, true]) {
    it(`holds the flush until space returns, then every record is durable exactly once (${partial ? "partial write" : "nothing written"})`, async () => {
      const dir = tempDir();
      dirs.push(dir);
      const { fs, state } = fullableFs();
      const wal = await openShardWal(dir, { fs, segmentBytes: 1 << 20 });
      wal.submit([entry(1, 0, 100)]);
      await wal.flush();
      state.full = true;
      state.partial = partial;
      wal.submit([entry(1, 100, 300), entry(2, 0, 50)]);
      let flushed = false;
      const flush = wal.flush().then(() => {
        flushed = true;
      });
      await until(() => state.refusedWrites >= 3);
      // Held, not failed: nothing of the batch is durable, and the WAL says it waits for space.
      expect(flushed).toBe(false);
      expect(wal.stats().waitingForSpace).toBe(true);
      // Records submitted meanwhile queue behind the held batch.
      wal.submit([entry(1, 400, 20)]);
      state.full = false;
      await flush;
      await wal.flush();
      expect(wal.stats()).toMatchObject({ waitingForSpace: false });
      expect(wal.stats().noSpaceRetries).toBeGreaterThanOrEqual(3);
      await wal.close();

      const again = await openShardWal(dir, { segmentBytes: 1 << 20 });
      expect(again.tornTail).toBeUndefined();
      expect(again.groupState(1)?.end).toBe(420);
      expect(again.groupState(2)?.end).toBe(50);
      expect(again.readEntry(1, 100)).toEqual(new Uint8Array(300).fill(100));
      await again.close();
    });
  }

  it("ENOSPC from fdatasync stays fatal: the WAL is out of service", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const { fs, state } = fullableFs();
    const wal = await openShardWal(dir, { fs, segmentBytes: 1 << 20 });
    state.failSync = true;
    wal.submit([entry(1, 0, 100)]);
    const err = await wal.flush().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WalError);
    expect((err as WalError).code).toBe("FAILED");
    expect(() => wal.submit([entry(1, 100, 10)])).toThrow(/FAILED/);
  });

  it("close() while a batch waits for space gives up instead of hanging", async () => {
    const dir = tempDir();
    dirs.push(dir);
    const { fs, state } = fullableFs();
    const wal = await openShardWal(dir, { fs, segmentBytes: 1 << 20 });
    state.full = true;
    wal.submit([entry(1, 0, 100)]);
    const flush = wal.flush().catch((e: unknown) => e);
    await until(() => state.refusedWrites >= 1);
    const closed = await wal.close().then(
      () => "closed",
      (e: unknown) => e,
    );
    expect(closed).toBeInstanceOf(WalError);
    expect(await flush).toBeInstanceOf(WalError);
  });
});
