import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runListAppend } from "@palf/kv-app/list-append-workload";
import { LocalStore } from "@palf/kv-app/local-store";
import { checkListAppend, type ListAppendTxn } from "@palf/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

let dir: string;
let store: LocalStore;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-kv-la-"));
  store = new LocalStore({ dataDir: dir, partitions: 4, lockTimeoutMs: 1000 });
  await store.start();
}, 120_000);

afterAll(async () => {
  await store?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("the store on 3 palfd + 2 store servers + nats-server, list-append workload with kill -9", () => {
  it("shows no anomaly strong snapshot isolation forbids (Elle-style check) through a palfd kill and a store server kill", async () => {
    const { kv, close } = await store.openKv({ maxAttempts: 30 });
    try {
      let stop = false;
      const run = runListAppend({ kv, keys: 12, concurrency: 8, done: () => stop, seed: 14 });
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      await sleep(2500);
      await store.cluster.kill("n3");
      await sleep(2500);
      await store.killServer("kv2");
      await store.cluster.startNode("n3");
      await store.startServer("kv2");
      await sleep(2500);
      stop = true;
      const { history } = await run;
      const ok = history.filter((t) => t.status === "ok");
      expect(ok.length).toBeGreaterThan(10);
      const result = checkListAppend(history as unknown as ListAppendTxn[], { consistency: "strong-si" });
      expect(result.anomalies.filter((a) => a.severity === "error")).toEqual([]);
      expect(result.ok).toBe(true);
    } finally {
      await close();
    }
  }, 200_000);
});
