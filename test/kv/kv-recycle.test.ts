import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LocalStore } from "@palf/kv-app/local-store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let dir: string;
let store: LocalStore;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-kv-recycle-"));
  store = new LocalStore({ dataDir: dir, partitions: 2, recycle: true, checkpointMs: 500 });
  await store.start();
}, 120_000);

afterAll(async () => {
  await store?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("store servers recycling the partition logs (palfkv serve --recycle --peers)", () => {
  it("drop the logs below every server's checkpoint, and a killed server restarts from its checkpoint with the same data", async () => {
    const { kv, client, close } = await store.openKv();
    try {
      for (let i = 0; i < 40; i++) await kv.put(`k${i % 5}`, `v${i}`);
      const status = async (id: string) =>
        (await store.serverStatus(id)) as {
          checkpointed: Record<string, number>;
          server: { recycled: number };
          partitions: Array<{ partition: number; keys: number }>;
        };
      const deadline = Date.now() + 60_000;
      while ((await status("kv1")).server.recycled === 0 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 250));
      const low = (await status("kv1")).checkpointed;
      // Below the recycled base the log is gone: reading it from 0 answers RECYCLED.
      const recycledOnce = await Promise.all(
        store.map!.groups.map((g) =>
          client
            .group(g)
            .read(0)
            .then(
              () => false,
              (e: { code?: string }) => e.code === "RECYCLED",
            ),
        ),
      );
      expect(recycledOnce.some((x) => x)).toBe(true);
      await store.killServer("kv1");
      await store.startServer("kv1");
      for (let k = 0; k < 5; k++) expect(await kv.get(`k${k}`)).toBe(`v${35 + k}`);
      const after = await status("kv1");
      for (const [p, lsn] of Object.entries(low))
        expect(after.checkpointed[p] ?? lsn).toBeGreaterThanOrEqual(lsn);
    } finally {
      await close();
    }
  }, 200_000);
});
