import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { PalfClient } from "@palf/client";
import {
  cdcCursorPosition,
  createStore,
  openKv,
  palfKvCluster,
  type TxnCdcCheckpoint,
  type TxnChange,
} from "@palf/kv";
import { KvServer } from "@palf/kv-app/kv-server";
import { LocalStore } from "@palf/kv-app/local-store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// A transaction-CDC consumer registers its checkpoint as a reader cursor; a store server recycling the
// partition logs (palfkv serve --recycle) must keep every log from that cursor on, so the consumer can resume.

let dir: string;
let store: LocalStore;
let client: PalfClient;
const servers: KvServer[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-kv-cursor-"));
  // No store server processes: each scenario makes its own store (catalog and partition groups) on this
  // cluster and runs its own KvServer in this process.
  store = new LocalStore({ dataDir: dir, partitions: 1, servers: [] });
  await store.start();
  client = await store.client();
  await client.cursors().createGroup(store.nodes);
}, 120_000);

afterAll(async () => {
  for (const s of servers) await s.stop().catch(() => undefined);
  await client?.close();
  await store?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * Writes, lets a CDC consumer take a checkpoint halfway and save it as cursor `name`, writes more, then
 * starts a recycling store server and checkpoints until it is past the cursor on every partition.
 */
async function scenario(name: string, catalogGroup: number, unsafeIgnoreCursors: boolean) {
  const map = await createStore(client, { nodes: store.nodes, partitions: 2, catalogGroup });
  const kv = await openKv({ cluster: palfKvCluster(client), map, host: { resolveEveryMs: 0 } });
  const close = () => kv.close();
  try {
    const keys = Array.from({ length: 10 }, (_, i) => `${name}-k${i}`);
    for (const k of keys) await kv.put(k, "before");
    let cp: TxnCdcCheckpoint | undefined;
    const cdc = kv.changes();
    let seen = 0;
    for await (const t of cdc as AsyncIterable<TxnChange>) {
      if (t.writes.some((w) => w.key.startsWith(`${name}-`)) && ++seen === keys.length) {
        cp = cdc.checkpoint();
        break;
      }
    }
    await cdc.close();
    const position = cdcCursorPosition(cp!, map);
    await client.cursors().save(name, position, { all: true });
    for (const k of keys) await kv.put(k, "after");

    const server = new KvServer({
      id: `kv-${name}`,
      cluster: "palf",
      nats: store.natsUrl,
      nodes: store.nodes,
      catalogGroup,
      dataDir: path.join(dir, name),
      recycle: true,
      checkpointEveryMs: 3_600_000,
      host: { resolveEveryMs: 0 },
      unsafeIgnoreCursors,
      log: () => undefined,
    });
    servers.push(server);
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    await server.start();
    const past = () =>
      map.groups.every((g, p) => server.host!.replica(p).readFrom > position.groups[String(g)]!);
    for (let i = 0; i < 600 && !past(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(past()).toBe(true);
    await server.checkpoint();
    return { kv, server, cp: cp!, position, keys, close };
  } catch (e) {
    await close();
    throw e;
  }
}

/** Which groups answer RECYCLED when read from the cursor's position. */
async function recycledAt(position: { groups: Readonly<Record<string, number>> }): Promise<number[]> {
  const out: number[] = [];
  for (const [g, lsn] of Object.entries(position.groups)) {
    const gone = await client
      .group(Number(g))
      .read(lsn)
      .then(
        () => false,
        (e: { code?: string }) => e.code === "RECYCLED",
      );
    if (gone) out.push(Number(g));
  }
  return out;
}

describe("store server recycling respects registered cursors", () => {
  it("never drops a partition's log below a CDC consumer's cursor, and the consumer resumes from its checkpoint", async () => {
    const { kv, server, cp, position, keys, close } = await scenario("cdc1", 100, false);
    try {
      expect(server.stats.heldByCursor).toBeGreaterThan(0);
      expect(await recycledAt(position)).toEqual([]);
      // The consumer resumes from its checkpoint and gets the later writes.
      const resumed = kv.changes({ from: cp });
      const last = new Map<string, unknown>();
      for await (const t of resumed as AsyncIterable<TxnChange>) {
        for (const w of t.writes) if (w.key.startsWith("cdc1-")) last.set(w.key, w.value);
        if (keys.every((k) => last.get(k) === "after")) break;
      }
      await resumed.close();
      expect(keys.map((k) => last.get(k))).toEqual(keys.map(() => "after"));

      // Once the consumer moves its cursor on (here: deletes it), the server recycles past the old position.
      await client.cursors().delete("cdc1");
      await server.checkpoint();
      expect((await recycledAt(position)).length).toBeGreaterThan(0);
    } finally {
      await close();
    }
  }, 180_000);

  it("palfkv changes --cursor saves the consumer's final checkpoint as a cursor at its read positions", async () => {
    const catalogGroup = 300;
    const map = await createStore(client, { nodes: store.nodes, partitions: 2, catalogGroup });
    const kv = await openKv({ cluster: palfKvCluster(client), map, host: { resolveEveryMs: 0 } });
    try {
      for (let i = 0; i < 4; i++) await kv.put(`cli-k${i}`, "v");
    } finally {
      await kv.close();
    }
    const main = fileURLToPath(new URL("../../apps/kv/src/main.ts", import.meta.url));
    const args = ["--nats", store.natsUrl, "--catalog", String(catalogGroup), "changes", "--limit", "3"];
    const r = spawnSync(process.execPath, ["--import", "tsx", main, ...args, "--cursor", "cli-consumer"], {
      encoding: "utf8",
      timeout: 120_000,
    });
    expect(r.status, r.stderr).toBe(0);
    const last = JSON.parse(r.stdout.trim().split("\n").pop()!) as {
      checkpoint: TxnCdcCheckpoint;
      cursor: string;
    };
    expect(last.cursor).toBe("cli-consumer");
    const saved = await client.cursors().get("cli-consumer");
    expect(saved?.position).toEqual(cdcCursorPosition(last.checkpoint, map));
    expect(saved?.all).toBe(true);
    await client.cursors().delete("cli-consumer");
  }, 180_000);

  it("guard: with unsafeIgnoreCursors the server recycles past the cursor (the check above would fail)", async () => {
    const { position, close } = await scenario("cdc2", 200, true);
    try {
      expect((await recycledAt(position)).length).toBeGreaterThan(0);
    } finally {
      await close();
    }
  }, 180_000);
});
