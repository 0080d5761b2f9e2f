import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { encodeRecord, type TxnCdcCheckpoint, type TxnChange } from "@palf/kv";
import { accountNames, initAccounts, runBank, snapshotRead } from "@palf/kv-app/bank-workload";
import { LocalStore } from "@palf/kv-app/local-store";
import { checkBank } from "@palf/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ACCOUNTS = accountNames(40);
const TOTAL = 40 * 100;
let dir: string;
let store: LocalStore;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-kv-bank-"));
  store = new LocalStore({ dataDir: dir, partitions: 4, lockTimeoutMs: 1000, checkpointMs: 1000 });
  await store.start();
}, 120_000);

afterAll(async () => {
  await store?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

/** Follows the transaction CDC, keeping a copy of the balances; the copy must sum to the total after every transaction. */
function follow(
  cdc: AsyncIterable<TxnChange>,
  copy: Map<string, number>,
  stop: () => boolean,
  seen: TxnChange[],
) {
  return (async () => {
    for await (const t of cdc) {
      seen.push(t);
      for (const w of t.writes) copy.set(w.key, w.value === null ? 0 : Number(w.value));
      if (copy.size === ACCOUNTS.length) {
        const sum = [...copy.values()].reduce((a, b) => a + b, 0);
        if (sum !== TOTAL)
          throw new Error(`CDC copy sums to ${sum} after ${t.txnId} (commit version ${t.commitVersion})`);
      }
      if (stop()) return;
    }
  })();
}

describe("the store on 3 palfd + 2 store servers + nats-server, bank workload with kill -9", () => {
  it("keeps every snapshot's total through a palfd kill, a store server kill and coordinators dead between prepare and decision; CDC resumed from a checkpoint agrees", async () => {
    const { kv, client, close } = await store.openKv();
    const cdcSide = await store.openKv({ remote: false });
    try {
      await initAccounts(kv, ACCOUNTS, 100);

      // A coordinator that dies between prepare and decision: two prepares appended, no decision ever.
      const map = store.map!;
      const a = ACCOUNTS[0]!;
      let b = ACCOUNTS[1]!;
      for (const x of ACCOUNTS) if (kv.partitionOf(x) !== kv.partitionOf(a)) b = x;
      const participants = [kv.partitionOf(a), kv.partitionOf(b)].sort((x, y) => x - y);
      const snap = await client.timestamp();
      const ref = await client.timestamp();
      for (const key of [a, b])
        await client.group(map.groups[kv.partitionOf(key)]!).append(
          encodeRecord({
            type: "prepare",
            txnId: "dead-coordinator",
            snapshot: snap,
            writes: [{ key, value: "1000000" }],
            primary: participants[0]!,
            participants,
          }),
          { refCsn: ref },
        );

      // A real coordinator process killed (SIGKILL) after its prepares, before its decision.
      const dying = spawnSync(
        process.execPath,
        [
          "--import",
          "tsx",
          new URL("./dying-coordinator.test-support.ts", import.meta.url).pathname,
          store.natsUrl,
          JSON.stringify(map),
          ACCOUNTS[2]!,
          ACCOUNTS[3]!,
        ],
        { encoding: "utf8", timeout: 120_000 },
      );
      expect(dying.signal, dying.stdout + dying.stderr).toBe("SIGKILL");
      const killedTxn = (JSON.parse(dying.stdout.trim().split("\n").pop()!) as { prepared: string }).prepared;

      const copy = new Map<string, number>();
      const seen: TxnChange[] = [];
      const first = cdcSide.kv.changes();
      let stopFirst = false;
      const firstDone = follow(first, copy, () => stopFirst, seen);

      let stop = false;
      const bank = runBank({
        kv,
        accounts: ACCOUNTS,
        concurrency: 8,
        done: () => stop,
        seed: 14,
        snapshotEvery: 5,
      });
      const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
      await sleep(3000);
      await store.cluster.kill("n2");
      await sleep(3000);
      await store.killServer("kv1");
      await sleep(2000);
      // The first CDC reader stops; a second one resumes from its checkpoint.
      stopFirst = true;
      await sleep(500);
      const cp: TxnCdcCheckpoint = first.checkpoint();
      await first.close();
      await firstDone.catch((e) => {
        throw e;
      });
      await store.cluster.startNode("n2");
      await store.startServer("kv1");
      await sleep(3000);
      stop = true;
      const result = await bank;

      const final = await snapshotRead(kv, ACCOUNTS.length);
      const check = checkBank({
        initialTotal: TOTAL,
        reads: result.snapshots,
        finalBalances: final.balances,
        accounts: ACCOUNTS,
      });
      expect(check.violations).toEqual([]);
      expect(check.totalsChecked).toBeGreaterThan(0);
      expect(result.committed).toBeGreaterThan(10);
      expect(final.balances.get(a)).not.toBe(1000000);

      // The resumed reader catches up with every acknowledged transfer (bounded wait; then the checks say what is missing).
      const second = cdcSide.kv.changes({ from: cp });
      const delivered = new Set(seen.map((t) => t.txnId));
      const allSeen = () =>
        [...result.acked.keys()].every((id) => delivered.has(id)) &&
        [...final.balances].every(([k, v]) => copy.get(k) === v);
      const secondDone = follow(
        second,
        copy,
        () => {
          delivered.add(seen[seen.length - 1]!.txnId);
          return allSeen();
        },
        seen,
      );
      const deadline = Date.now() + 60_000;
      while (!allSeen() && Date.now() < deadline) await Promise.race([secondDone, sleep(200)]);
      await second.close();
      const missing = [...result.acked.keys()].filter((id) => !delivered.has(id));
      expect(missing).toEqual([]);
      expect(new Set(seen.map((t) => t.txnId)).size).toBe(seen.length);
      for (let i = 1; i < seen.length; i++)
        expect(seen[i]!.commitVersion).toBeGreaterThanOrEqual(seen[i - 1]!.commitVersion);
      expect(copy).toEqual(final.balances);
      expect(seen.some((t) => t.txnId === "dead-coordinator" || t.txnId === killedTxn)).toBe(false);

      // Every lock is resolved on every store server (the dead coordinator's included).
      const locksOn = async () => {
        let n = 0;
        for (const id of store.servers) {
          const st = (await store.serverStatus(id)) as { partitions: Array<{ locks: number }> };
          for (const p of st.partitions) n += p.locks;
        }
        return n;
      };
      const lockDeadline = Date.now() + 30_000;
      let locks = await locksOn();
      while (locks > 0 && Date.now() < lockDeadline) {
        await sleep(500);
        locks = await locksOn();
      }
      expect(locks).toBe(0);
    } finally {
      await close();
      await cdcSide.close();
    }
  }, 240_000);
});
