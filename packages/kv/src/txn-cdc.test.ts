import { describe, expect, it } from "vitest";
import { encodeRecord } from "./kv-record.ts";
import { realKvRuntime } from "./kv-runtime.ts";
import { openKv } from "./kv-store.ts";
import { MemoryKvCluster } from "./memory-kv-cluster.test-support.ts";
import type { PartitionMap } from "./partition-map.ts";
import type { TxnCdc, TxnChange } from "./txn-cdc.ts";

const map: PartitionMap = { version: 1, scheme: "hash", groups: [21, 22, 23] };

/** Applies changes to a copy of the balances, checking the total after every transaction. */
function follow(cdc: TxnCdc, balances: Map<string, number>, total: number, until: (c: TxnChange) => boolean) {
  const seen: TxnChange[] = [];
  const done = (async () => {
    for await (const c of cdc) {
      seen.push(c);
      for (const w of c.writes) balances.set(w.key, w.value === null ? 0 : Number(w.value));
      if (balances.size === 8) {
        const sum = [...balances.values()].reduce((a, b) => a + b, 0);
        if (sum !== total)
          throw new Error(`after ${c.txnId} at ${c.commitVersion} the copy sums to ${sum}, not ${total}`);
      }
      if (until(c)) return;
    }
  })();
  return { seen, done };
}

describe("transaction CDC", () => {
  it("delivers whole transactions in commit-version order; a copy resumed from a checkpoint keeps the bank total", async () => {
    const cluster = new MemoryKvCluster(realKvRuntime, map.groups);
    const kv = await openKv({ cluster, map, host: { readFence: "append", resolveEveryMs: 0 } });
    const accounts = Array.from({ length: 8 }, (_, i) => `a${i}`);
    const init = await kv.transact(async (tx) => {
      for (const a of accounts) tx.put(a, "50");
    });
    const committed: number[] = [init.commitVersion!];
    let seed = 3;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const transfers = async (count: number) =>
      Promise.all(
        Array.from({ length: 4 }, async () => {
          for (let i = 0; i < count; i++) {
            const from = accounts[rnd(8)]!;
            const to = accounts[(accounts.indexOf(from) + 1 + rnd(7)) % 8]!;
            const r = await kv.transact(
              async (tx) => {
                const f = Number(await tx.get(from));
                const t = Number(await tx.get(to));
                tx.put(from, String(f - 1));
                tx.put(to, String(t + 1));
              },
              { maxAttempts: 100 },
            );
            committed.push(r.commitVersion!);
          }
        }),
      );
    await transfers(10);

    const copy = new Map<string, number>();
    const first = kv.changes();
    const a = follow(first, copy, 400, () => copy.size === 8 && a.seen.length >= 20);
    await a.done;
    const cp = first.checkpoint();
    await first.close();

    await transfers(10);
    const second = kv.changes({ from: cp });
    const b = follow(second, copy, 400, () => a.seen.length + b.seen.length >= committed.length);
    await b.done;
    await second.close();

    const all = [...a.seen, ...b.seen];
    for (let i = 1; i < all.length; i++)
      expect(all[i]!.commitVersion).toBeGreaterThanOrEqual(all[i - 1]!.commitVersion);
    expect(all.map((c) => c.commitVersion).sort((x, y) => x - y)).toEqual(
      [...committed].sort((x, y) => x - y),
    );
    expect(new Set(all.map((c) => c.txnId)).size).toBe(all.length);
    const live = await kv.txn(async (tx) => {
      const out = new Map<string, number>();
      for (const acc of accounts) out.set(acc, Number(await tx.get(acc)));
      return out;
    });
    expect(copy).toEqual(live);
    await kv.close();
  });
});

describe("transaction CDC decisions", () => {
  it("a transaction whose primary refused its prepare before another participant prepared does not hold the stream", async () => {
    const cluster = new MemoryKvCluster(realKvRuntime, map.groups);
    const kv = await openKv({ cluster, map, host: { readFence: "append", resolveEveryMs: 0 } });
    const { encodeRecord } = await import("./kv-record.ts");
    // Partition 0 holds a lock of "blocker" on x; "loser" (primary 0) is refused there, prepared on 1.
    const s = await cluster.timestamp();
    const ref = await cluster.timestamp();
    const prep = (txnId: string, key: string, participants: number[]) =>
      encodeRecord({
        type: "prepare",
        txnId,
        snapshot: s,
        writes: [{ key, value: txnId }],
        primary: 0,
        participants,
      });
    cluster.appendNow(21, prep("blocker", "x", [0]), ref);
    cluster.appendNow(21, prep("loser", "x", [0, 1]), ref);
    cluster.appendNow(22, prep("loser", "y", [0, 1]), ref);
    cluster.appendNow(21, encodeRecord({ type: "abort", txnId: "loser" }), 0);
    cluster.appendNow(22, encodeRecord({ type: "abort", txnId: "loser" }), 0);
    const after = await kv.transact(async (tx) => tx.put("z", "later"));
    const cdc = kv.changes();
    const got: string[] = [];
    for await (const c of cdc) {
      got.push(c.txnId);
      if (c.txnId === after.txnId) break;
    }
    await cdc.close();
    expect(got).toEqual(["blocker", after.txnId]);
    await kv.close();
  });

  it("a transaction aborted at a participant whose primary never heard of it does not hold the stream back", async () => {
    const cluster = new MemoryKvCluster(realKvRuntime, map.groups);
    const kv = await openKv({ cluster, map, host: { readFence: "append", resolveEveryMs: 0 } });
    // Its prepare landed on partition 2 only; the coordinator's aborts reached partition 2 but not the primary.
    const ref = await cluster.timestamp();
    cluster.appendNow(
      map.groups[2]!,
      encodeRecord({
        type: "prepare",
        txnId: "lost",
        snapshot: ref - 1,
        writes: [{ key: "x", value: "1" }],
        primary: 0,
        participants: [0, 2],
      }),
      ref,
    );
    cluster.appendNow(map.groups[2]!, encodeRecord({ type: "abort", txnId: "lost" }), 0);
    const later = await kv.transact(async (tx) => tx.put("y", "1"));
    const cdc = kv.changes();
    const got: string[] = [];
    const reading = (async () => {
      for await (const c of cdc) {
        got.push(c.txnId);
        if (c.txnId === later.txnId) return;
      }
    })();
    await Promise.race([reading, new Promise((r) => setTimeout(r, 3000))]);
    await cdc.close();
    await kv.close();
    expect(got).toEqual([later.txnId]);
  });
});
