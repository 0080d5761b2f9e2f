import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type CdcCheckpoint, type CdcEntry, type CdcReader, cdcBefore, openCdc } from "@palf/cdc";
import { connect, type PalfClient } from "@palf/client";
import { LocalCluster } from "@palf/palfd/local-cluster";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const nodes = ["n1", "n2", "n3"];
const groups = Array.from({ length: 100 }, (_, i) => i + 1);
let dir: string;
let cluster: LocalCluster;
let client: PalfClient;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-cdc-"));
  cluster = new LocalCluster({ nodes, dataDir: dir, leaseMs: 1000 });
  await cluster.start();
  client = await connect({ cluster: "palf", nodes, servers: cluster.natsUrl });
  await client.createGroup(0, nodes);
  for (const g of groups) await client.createGroup(g, nodes);
}, 90_000);

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const key = (e: { group: number; lsn: number }) => `${e.group}/${e.lsn}`;

/** Collects a reader's entries in the background until stopped. */
function collect(reader: CdcReader): { entries: CdcEntry[]; done: Promise<void> } {
  const entries: CdcEntry[] = [];
  const done = (async () => {
    for await (const e of reader) entries.push(e);
  })();
  return { entries, done };
}

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function expectOrdered(entries: readonly CdcEntry[]): void {
  for (let i = 1; i < entries.length; i++) {
    const a = entries[i - 1]!;
    const b = entries[i]!;
    if (!cdcBefore(a, b))
      throw new Error(`out of order at ${i}: ${JSON.stringify([a, b].map((e) => [e.csn, e.group, e.lsn]))}`);
  }
}

describe("CDC over 100 groups of a real 3-node cluster, with appends running and a leader killed", () => {
  it("delivers every committed entry once, in CSN order; a reader resumed from a checkpoint loses nothing", async () => {
    const reader = await openCdc(client, { groups });
    const first = collect(reader);
    const acked = new Map<string, { csn: number; text: string }>();
    let stop = false;

    const writer = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const group = groups[(w * 7 + i * 13) % groups.length]!;
        const text = `w${w}-${i}`;
        try {
          const refCsn = await client.timestamp();
          const r = await client.group(group).append(text, { refCsn });
          expect(r.csn).toBeGreaterThanOrEqual(refCsn);
          acked.set(key({ group, lsn: r.lsn }), { csn: r.csn, text });
        } catch {
          // An append cut off by the kill: it may or may not be committed; the reader decides.
        }
      }
    };
    const writers = Array.from({ length: 16 }, (_, w) => writer(w));

    await until("entries flowing", () => first.entries.length > 500);
    // Kill -9 the node leading the most groups, then bring it back: its groups fail over meanwhile.
    const led = (n: string) => groups.filter((g) => client.leaderOf(g) === n).length;
    const victim = [...nodes].sort((a, b) => led(b) - led(a))[0]!;
    await cluster.kill(victim);
    await new Promise((r) => setTimeout(r, 3000));
    await cluster.startNode(victim);
    await until("entries flowing after the restart", () => first.entries.length > 2000, 90_000);
    const checkpoint: CdcCheckpoint = reader.checkpoint();
    const deliveredAtCheckpoint = first.entries.length;
    await new Promise((r) => setTimeout(r, 2000));
    stop = true;
    await Promise.all(writers);

    await until("every acknowledged append delivered", () => {
      const got = new Set(first.entries.map(key));
      return [...acked.keys()].every((k) => got.has(k));
    });
    await reader.close();
    await first.done;

    expectOrdered(first.entries);
    const keys = first.entries.map(key);
    expect(new Set(keys).size).toBe(keys.length);
    const byKey = new Map(first.entries.map((e) => [key(e), e]));
    for (const [k, a] of acked) {
      expect(byKey.get(k)?.csn).toBe(a.csn);
      expect(Buffer.from(byKey.get(k)!.payload).toString()).toBe(a.text);
    }

    // Resume: a reader opened from the checkpoint delivers exactly what came after it.
    const resumed = await openCdc(client, { groups, from: checkpoint });
    const second = collect(resumed);
    const after = first.entries.slice(deliveredAtCheckpoint);
    await until("the resumed reader caught up", () => second.entries.length >= after.length);
    await resumed.close();
    await second.done;
    expectOrdered(second.entries);
    expect(second.entries.slice(0, after.length).map(key)).toEqual(after.map(key));
  }, 240_000);
});
