import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { crc32 } from "node:zlib";
import { type GroupEntry, initialConfig, type PersistRecord, Prng } from "@palf/core";
import { MutableImage } from "@palf/core/testing";
import { openShardWal } from "@palf/storage";
import { afterEach, describe, expect, it } from "vitest";
import { recoverGroups, toWalRecord } from "./wal-binding.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

const config = initialConfig(["n1", "n2", "n3"]);

/** A random but valid record stream for one group, as a replica would persist it. */
function recordStream(rng: Prng, n: number): PersistRecord[] {
  const out: PersistRecord[] = [];
  const log: GroupEntry[] = [];
  let base = { lsn: 0, pid: 0, accum: 0, csn: 0, config };
  let pid = 1;
  const end = () => log.at(-1)?.end ?? base.lsn;
  for (let i = 0; i < n; i++) {
    const roll = rng.next();
    if (roll < 0.6) {
      const body = Buffer.alloc(rng.int(1, 400), rng.int(0, 256));
      const prevAccum = log.at(-1)?.accum ?? base.accum;
      const lsn = end();
      const maxCsn = (log.at(-1)?.maxCsn ?? base.csn) + 1;
      const ge: GroupEntry = {
        pid,
        lsn,
        end: lsn + 64 + body.length,
        count: 1,
        maxCsn,
        flags: 0,
        checksum: crc32(body),
        accum: crc32(body, prevAccum),
        committedEnd: 0,
        body,
      };
      log.push(ge);
      out.push({ kind: "entry", entry: ge });
    } else if (roll < 0.7 && log.length > 0) {
      const at = log[rng.int(0, log.length)]!.lsn;
      log.splice(log.findIndex((e) => e.lsn === at));
      pid++;
      out.push({ kind: "truncate", lsn: at });
    } else if (roll < 0.8) {
      out.push({ kind: "meta", meta: { promisedPid: pid + rng.int(0, 3), highestBallot: rng.int(0, 100) } });
    } else if (roll < 0.9 && log.length > 1) {
      const cut = log[rng.int(1, log.length)]!;
      const prev = log[log.indexOf(cut) - 1]!;
      base = { lsn: cut.lsn, pid: prev.pid, accum: prev.accum, csn: prev.maxCsn, config };
      log.splice(0, log.indexOf(cut));
      out.push({ kind: "base", base, reset: false });
    } else if (roll < 0.93) {
      // A rebuild: the log restarts at another replica's base, past our end or inside a conflicting tail
      // (mid-entry, so the tail's entries both span and follow it).
      const inside = log.length > 0 && rng.next() < 0.5;
      base = {
        lsn: inside ? log[rng.int(0, log.length)]!.lsn + 1 : end() + 1000,
        pid: pid + 1,
        accum: rng.int(0, 2 ** 31),
        csn: (log.at(-1)?.maxCsn ?? base.csn) + 10,
        config,
      };
      pid++;
      log.length = 0;
      out.push({ kind: "base", base, reset: true });
    }
  }
  return out;
}

describe("core durable records through the shard WAL", () => {
  it("recovery from the WAL equals the simulator's durable image of the same records (seeds 1-6)", async () => {
    for (let seed = 1; seed <= 6; seed++) {
      const rng = new Prng(seed);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wal-binding-"));
      dirs.push(dir);
      const wal = await openShardWal(dir, { segmentBytes: 64 * 1024 });
      const images = new Map<number, MutableImage>();
      for (const group of [1, 2, 3]) {
        const img = new MutableImage(config);
        images.set(group, img);
        // A created group's first durable record is its base (with the config).
        const first: PersistRecord = { kind: "base", base: img.base, reset: false };
        wal.submit([toWalRecord(group, first, 5)]);
      }
      for (const group of [1, 2, 3]) {
        const stream = recordStream(rng, 120);
        for (const rec of stream) {
          wal.submit([toWalRecord(group, rec, 5)]);
          images.get(group)!.apply(rec);
        }
        await wal.flush();
      }
      await wal.close();
      const reopened = await openShardWal(dir, { segmentBytes: 64 * 1024 });
      const recovered = new Map(recoverGroups(reopened).map((g) => [g.group, g]));
      for (const [group, img] of images) {
        const r = recovered.get(group);
        expect(r, `seed ${seed} group ${group}`).toBeDefined();
        const want = img.snapshot();
        expect(r!.inc).toBe(5);
        expect(r!.image.meta, `seed ${seed} group ${group} meta`).toEqual(want.meta);
        expect(r!.image.base, `seed ${seed} group ${group} base`).toEqual(want.base);
        expect(
          r!.image.entries.map((e) => [e.lsn, e.end, e.pid, e.accum]),
          `seed ${seed} group ${group} entries`,
        ).toEqual(want.entries.map((e) => [e.lsn, e.end, e.pid, e.accum]));
        for (let i = 0; i < want.entries.length; i++) {
          expect(Buffer.compare(r!.image.entries[i]!.body, want.entries[i]!.body)).toBe(0);
        }
      }
      await reopened.close();
    }
  });
});
