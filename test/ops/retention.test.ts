import fs from "node:fs";
import path from "node:path";
import { openCdc } from "@palf/cdc";
import { CURSOR_GROUP, PalfError } from "@palf/client";
import type { RetentionOptions } from "@palf/node";
import { afterAll, describe, expect, it } from "vitest";
import { type MemoryCluster, startMemoryCluster, waitFor } from "./memory-cluster.test-support.ts";

/**
 * WAL segment size: the WAL keeps a few segments per shard beyond what groups need (lagSegments), and copies
 * forward at most half a segment of live groups at once, which must cover every group live in the oldest.
 */
const SEGMENT = 1024 * 1024;
/** Bytes the load appends: every byte is on 3 disks, so without retention they would hold 3x this. */
const APPEND = 16 * 2 ** 20;
/** Append rate cap (bytes/s). */
const RATE = 1.2 * 2 ** 20;
const clusters: MemoryCluster[] = [];
afterAll(async () => {
  for (const c of clusters.splice(0)) await c.close();
});

/** Bytes of every file under `dir`. */
function diskUse(dir: string): number {
  let total = 0;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) total += fs.statSync(path.join(e.parentPath, e.name)).size;
  return total;
}

describe("automatic log retention (3 nodes, real WALs, in-memory transport)", () => {
  it("keeps disk use bounded under continuous appends while a slow cursor keeps its range readable", async () => {
    const { nodes, client, dir } = await startCluster({ bytes: 16 * 1024, intervalMs: 100 });
    const ids = [...nodes.keys()];
    const cursors = client.cursors();
    await cursors.createGroup(ids);
    const groups = [1, 2, 3, 4];
    for (const g of groups) await client.createGroup(g, ids, { inc: 1 });

    // Group 1 is the slow consumer's: its first entries, then its cursor registered at the 5th.
    const first: number[] = [];
    for (let i = 0; i < 10; i++) first.push((await client.group(1).append(`slow-${i}`)).lsn);
    await cursors.save("slow", { groups: { "1": first[4]! }, csn: 0 });

    const payload = Buffer.alloc(1024, 7);
    let appended = 0;
    let stop = false;
    const slowAcks: number[] = [];
    const t0 = Date.now();
    const loops = Array.from({ length: 32 }, async (_, w) => {
      for (let k = 0; !stop; k++) {
        // One loop in 32 writes the slow consumer's group 1 (its held range stays below what the WAL copies
        // forward at once, half a segment, so the segments it pins can be freed), the others groups 2-4.
        const g = w === 0 ? 1 : groups[1 + ((w + k) % 3)]!;
        // At most RATE bytes a second: what the WAL keeps between retention rounds does not depend on the machine.
        while (appended > ((Date.now() - t0) / 1000) * RATE) await new Promise((r) => setTimeout(r, 20));
        let lsn: number;
        try {
          ({ lsn } = await client.group(g).append(payload));
        } catch (err) {
          // On a loaded machine a lease can lapse and a leader change fail an append that never committed:
          // that is an answer the SDK may give; only acknowledged appends count.
          if (err instanceof PalfError && (err.code === "FAILED" || err.code === "INDETERMINATE")) continue;
          throw err;
        }
        if (g === 1) slowAcks.push(lsn);
        appended += payload.length;
      }
    });
    // The slow consumer: once a second it commits the position it had a second before (it lags behind).
    let position = first[4]!;
    let previous = position;
    const samples: number[] = [];
    const until = Date.now() + 60_000;
    while (appended < APPEND && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 1000));
      position = previous;
      previous = slowAcks.at(-1) ?? position;
      await cursors.save("slow", { groups: { "1": position }, csn: 0 });
      samples.push(diskUse(dir));
      // Never recycled past the cursor, on any replica.
      for (const [id, n] of nodes)
        expect(n.replica(1)!.log.base.lsn, `${id}: group 1 base vs cursor`).toBeLessThanOrEqual(position);
    }
    const moved = position;
    stop = true;
    await Promise.all(loops);
    samples.push(diskUse(dir));

    console.log(
      `[ops] retention: appended ${(appended / 2 ** 20).toFixed(1)} MiB, disk MiB by second:`,
      samples.map((x) => +(x / 2 ** 20).toFixed(1)).join(" "),
    );
    const half = Math.floor(samples.length / 2);
    const early = Math.max(...samples.slice(0, half));
    const late = Math.max(...samples.slice(half));
    const report = {
      appendedMiB: appended / 2 ** 20,
      samplesMiB: samples.map((s) => +(s / 2 ** 20).toFixed(2)),
    };
    expect(appended, JSON.stringify(report)).toBeGreaterThan(APPEND / 2);
    // Bounded: about what the WAL keeps by design (a few segments per node, the retained bytes, the slow
    // consumer's range), far below the 3 copies of everything appended that it would be without retention.
    expect(late, JSON.stringify(report)).toBeLessThan(3 * 10 * SEGMENT);
    expect(late, JSON.stringify(report)).toBeLessThan(early * 1.5 + 4 * SEGMENT * 3);

    for (const [id, n] of nodes) {
      for (const g of [2, 3, 4]) expect(n.replica(g)!.log.base.lsn, `${id} group ${g}`).toBeGreaterThan(0);
      expect(n.replica(CURSOR_GROUP)!.log.base.lsn).toBe(0);
    }
    // The consumer resumes from its cursor and finds everything it has not consumed.
    const saved = (await cursors.get("slow"))!.position!.groups["1"]!;
    expect(saved).toBe(moved);
    let n = 0;
    for await (const e of client.group(1).entries(saved)) {
      if (n === 0) expect(e.lsn).toBe(saved);
      n++;
    }
    expect(n).toBe(slowAcks.filter((l) => l >= saved).length);

    // Deleting the cursor releases group 1.
    expect(await cursors.delete("slow")).toBe(true);
    expect(await cursors.list()).toEqual([]);
    for (let i = 0; i < 100; i++) await client.group(1).append(payload);
    await waitFor("group 1's base passes the deleted cursor", () =>
      [...nodes.values()].every((n) => n.replica(1)!.log.base.lsn > moved),
    );
  }, 120_000);

  it("openCdc with a cursor resumes where its last commit() left it, and retention keeps that range", async () => {
    const { nodes, client } = await startCluster({ bytes: 8 * 1024, intervalMs: 100 });
    const ids = [...nodes.keys()];
    await client.createGroup(0, ids, { inc: 1 });
    await client.cursors().createGroup(ids);
    await client.createGroup(5, ids, { inc: 1 });
    for (let i = 0; i < 20; i++) await client.group(5).append(`a-${i}`);
    const first = await openCdc(client, { groups: [5], cursor: "c1" });
    const seen: string[] = [];
    for await (const e of first) {
      seen.push(Buffer.from(e.payload).toString());
      if (seen.length === 10) break;
    }
    const cp = await first.commit();
    await first.close();
    expect(seen).toEqual(Array.from({ length: 10 }, (_, i) => `a-${i}`));
    const held = cp.groups["5"]!;

    const payload = Buffer.alloc(1024, 3);
    for (let i = 0; i < 100; i++) await client.group(5).append(payload);
    await new Promise((r) => setTimeout(r, 500));
    for (const n of nodes.values()) expect(n.replica(5)!.log.base.lsn).toBeLessThanOrEqual(held);

    const again = await openCdc(client, { groups: [5], cursor: "c1" });
    // The checkpoint is the LSN after the last entry consumed: the next one is where it resumes.
    for await (const e of again) {
      expect(e.lsn).toBeGreaterThanOrEqual(held);
      expect(Buffer.from(e.payload).toString()).toBe("a-10");
      break;
    }
    await again.close();
    const listed = await client.cursors().report();
    expect(listed).toMatchObject([{ name: "c1", position: { groups: { "5": held } } }]);
    expect(listed[0]!.totalLag).toBeGreaterThan(100 * 1024);
  }, 60_000);

  it("a replica that was down while the bases advanced past its log rebuilds from the leader's base", async () => {
    const { nodes, client, restart } = await startCluster({ bytes: 8 * 1024, intervalMs: 100 });
    const ids = [...nodes.keys()];
    await client.createGroup(6, ids, { inc: 1 });
    for (let i = 0; i < 10; i++) await client.group(6).append(`b-${i}`);
    const lead = (await client.membership().group(6))!.leader!;
    const down = ids.find((id) => id !== lead)!;
    await waitFor(`${down} has the first entries`, () => nodes.get(down)!.replica(6)!.committedEnd > 0);
    const oldEnd = nodes.get(down)!.replica(6)!.log.end;
    await nodes.get(down)!.stop({ transferMs: 0 });
    const payload = Buffer.alloc(1024, 4);
    for (let i = 0; i < 100; i++) await client.group(6).append(payload);
    await waitFor("the live replicas' bases passed the stopped one's log end", () =>
      ids.filter((id) => id !== down).every((id) => nodes.get(id)!.replica(6)!.log.base.lsn > oldEnd),
    );
    const back = await restart(down);
    const last = await client.group(6).append("after");
    await waitFor(`${down} rebuilt and caught up`, () => (back.replica(6)?.committedEnd ?? 0) > last.lsn);
    expect(back.replica(6)!.log.base.lsn).toBeGreaterThan(oldEnd);
    expect(Buffer.from(back.replica(6)!.read(last.lsn)!.payload).toString()).toBe("after");
  }, 60_000);

  it("--retain-ms: entries older than the limit are recycled, younger ones kept", async () => {
    const { nodes, client } = await startCluster({ ms: 3000, intervalMs: 100 });
    await client.createGroup(8, [...nodes.keys()], { inc: 1 });
    const payload = Buffer.alloc(2048, 5);
    let endOfOld = 0;
    for (let i = 0; i < 40; i++) endOfOld = (await client.group(8).append(payload)).lsn + 1;
    // No cursor group exists: the policy alone decides. The old entries go once they are 3 s old.
    await waitFor("the old entries are recycled", () =>
      [...nodes.values()].every((n) => n.replica(8)!.log.base.lsn >= endOfOld - 2048),
    );
    const young = await client.group(8).append("young");
    for (const n of nodes.values()) expect(n.replica(8)!.log.base.lsn).toBeLessThanOrEqual(young.lsn);
    expect(Buffer.from((await client.group(8).read(young.lsn)).entries[0]!.payload).toString()).toBe("young");
  }, 60_000);

  it("guard: with unsafeIgnoreCursors the base passes a registered cursor (the check above would fail)", async () => {
    const { nodes, client } = await startCluster({
      bytes: 8 * 1024,
      intervalMs: 100,
      unsafeIgnoreCursors: true,
    });
    const cursors = client.cursors();
    await cursors.createGroup([...nodes.keys()]);
    await client.createGroup(1, [...nodes.keys()], { inc: 1 });
    const at = (await client.group(1).append("held")).lsn;
    await cursors.save("held", { groups: { "1": at }, csn: 0 });
    const payload = Buffer.alloc(1024, 1);
    for (let i = 0; i < 64; i++) await client.group(1).append(payload);
    await waitFor("the base passes the cursor", () =>
      [...nodes.values()].some((n) => n.replica(1)!.log.base.lsn > at),
    );
  }, 60_000);
});

async function startCluster(retention: RetentionOptions) {
  const c = await startMemoryCluster(["n1", "n2", "n3"], {
    shards: 1,
    segmentBytes: SEGMENT,
    replica: { maxGroupEntryBytes: 32 * 1024, maxPayloadBytes: 32 * 1024 },
    retention,
  });
  clusters.push(c);
  return { ...c, restart: c.start };
}
