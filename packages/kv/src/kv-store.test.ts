import { afterEach, describe, expect, it } from "vitest";
import { KvError } from "./kv-error.ts";
import { encodeRecord } from "./kv-record.ts";
import { realKvRuntime } from "./kv-runtime.ts";
import { type Kv, openKv } from "./kv-store.ts";
import { MemoryKvCluster, prepareByHand } from "./memory-kv-cluster.test-support.ts";
import type { PartitionHost } from "./partition-host.ts";
import { type PartitionMap, partitionOf } from "./partition-map.ts";

const map: PartitionMap = { version: 1, scheme: "hash", groups: [11, 12, 13, 14] };
const open: Kv[] = [];

async function store(o: { lockTimeoutMs?: number; fence?: "append" | "watermark" | "leader" } = {}) {
  const cluster = new MemoryKvCluster(realKvRuntime, map.groups);
  const kv = await openKv({
    cluster,
    map,
    host: { readFence: o.fence ?? "append", lockTimeoutMs: o.lockTimeoutMs ?? 2000, resolveEveryMs: 50 },
  });
  open.push(kv);
  return { cluster, kv };
}

afterEach(async () => {
  for (const kv of open.splice(0)) await kv.close();
});

/** Two keys on different partitions. */
function keysOnTwoPartitions(): [string, string] {
  const a = "k0";
  for (let i = 1; ; i++) if (partitionOf(map, `k${i}`) !== partitionOf(map, a)) return [a, `k${i}`];
}

describe("kv store over an in-memory cluster", () => {
  it("a single-key put is one append and is visible to a later get", async () => {
    const { kv, cluster } = await store();
    const before = [...cluster.appends.values()].reduce((a, b) => a + b, 0);
    const v = await kv.put("hello", "world");
    const after = [...cluster.appends.values()].reduce((a, b) => a + b, 0);
    expect(after - before).toBe(1);
    expect(await kv.get("hello")).toBe("world");
    expect(await kv.get("hello", { snapshot: v - 1 })).toBeNull();
    await kv.delete("hello");
    expect(await kv.get("hello")).toBeNull();
  });

  it("a transaction over two partitions commits both writes at one commit version", async () => {
    const { kv } = await store();
    const [a, b] = keysOnTwoPartitions();
    const r = await kv.transact(async (tx) => {
      tx.put(a, "1");
      tx.put(b, new Uint8Array([2]));
    });
    expect(r.commitVersion).toBeGreaterThan(r.snapshot);
    expect(await kv.get(a, { snapshot: r.commitVersion! })).toBe("1");
    expect(await kv.get(b, { snapshot: r.commitVersion! })).toEqual(new Uint8Array([2]));
    expect(await kv.get(a, { snapshot: r.commitVersion! - 1 })).toBeNull();
    expect(await kv.get(b, { snapshot: r.commitVersion! - 1 })).toBeNull();
    const all = await kv.scan({ prefix: "k" });
    expect(all.map((i) => i.key)).toEqual([a, b].sort());
  });

  it("bank: concurrent transfers across partitions keep every snapshot's total", async () => {
    const { kv } = await store();
    const N = 12;
    const accounts = Array.from({ length: N }, (_, i) => `acct-${i}`);
    await kv.txn(async (tx) => {
      for (const a of accounts) tx.put(a, "100");
    });
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const sums: number[] = [];
    const worker = async () => {
      for (let i = 0; i < 15; i++) {
        const from = accounts[rnd(N)]!;
        let to = accounts[rnd(N)]!;
        if (to === from) to = accounts[(accounts.indexOf(from) + 1) % N]!;
        const amount = 1 + rnd(20);
        await kv.txn(
          async (tx) => {
            const f = Number(await tx.get(from));
            const t = Number(await tx.get(to));
            if (f < amount) return;
            tx.put(from, String(f - amount));
            tx.put(to, String(t + amount));
          },
          { maxAttempts: 100 },
        );
        const total = await kv.txn(async (tx) => {
          let s = 0;
          for (const a of accounts) s += Number(await tx.get(a));
          return s;
        });
        sums.push(total);
      }
    };
    await Promise.all(Array.from({ length: 6 }, worker));
    expect(new Set(sums)).toEqual(new Set([N * 100]));
    expect(kv.stats.committed).toBeGreaterThan(90);
  });

  it("of two transactions writing one key from one snapshot, the second gets CONFLICT", async () => {
    const { kv } = await store();
    await kv.put("x", "0");
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const first = kv.txn(async (tx) => {
      await tx.get("x");
      await gate;
      tx.put("x", "first");
    });
    const second = kv.txn(
      async (tx) => {
        await tx.get("x");
        tx.put("x", "second");
        release();
      },
      { maxAttempts: 1 },
    );
    await second;
    await expect(first.then(() => "ok")).resolves.toBe("ok"); // retried after its conflict
    expect(kv.stats.conflicts).toBe(1);
    expect(await kv.get("x")).toBe("first");
  });

  it("bad requests are refused with BAD_REQUEST and write nothing", async () => {
    const { kv, cluster } = await store();
    const before = [...cluster.appends.values()].reduce((a, b) => a + b, 0);
    const bad = async (p: Promise<unknown>, why: RegExp) => {
      const e = await p.then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(KvError);
      expect((e as KvError).code).toBe("BAD_REQUEST");
      expect((e as KvError).message).toMatch(why);
    };
    await bad(kv.put("big", "x".repeat(64 * 1024 + 1)), /over the limit/);
    await bad(kv.put("k".repeat(1025), "v"), /key of 1025 bytes/);
    await bad(kv.put("", "v"), /non-empty/);
    await bad(
      kv.txn(async () => 1),
      /at least one key/,
    );
    await bad(
      kv.txn(async (tx) => {
        for (let i = 0; i < 1001; i++) tx.put(`many-${i}`, "v");
      }),
      /1001 keys/,
    );
    await bad(kv.put("n", 5 as unknown as string), /string or a Uint8Array/);
    const after = [...cluster.appends.values()].reduce((a, b) => a + b, 0);
    expect(after).toBe(before);
  });

  it("a prepare whose result is lost is settled by an abort at the primary: committed if it landed first", async () => {
    const { kv, cluster } = await store();
    const g = map.groups[partitionOf(map, "lost")]!;
    cluster.inject(g, { code: "INDETERMINATE", applied: true });
    await kv.put("lost", "landed");
    expect(await kv.get("lost")).toBe("landed");
    cluster.inject(g, { code: "INDETERMINATE", applied: false });
    await kv.put("lost", "again"); // aborted by the settling abort, then retried
    expect(await kv.get("lost")).toBe("again");
    expect(kv.stats.aborts).toBe(1);
  });

  it("a coordinator that dies between prepare and decision: readers abort its locks after the timeout", async () => {
    const { kv, cluster } = await store({ lockTimeoutMs: 100 });
    const [a, b] = keysOnTwoPartitions();
    await kv.txn(async (tx) => {
      tx.put(a, "old-a");
      tx.put(b, "old-b");
    });
    const { primary } = await prepareByHand(cluster, map, "dead", [a, b], "new");
    // The read's snapshot is above the prepares: it must resolve the lock, and ends up aborting it.
    expect(await kv.get(a)).toBe("old-a");
    expect(await kv.get(b)).toBe("old-b");
    const host = kv.service as PartitionHost;
    expect((await host.decision(primary, "dead")).state).toBe("aborted");
    for (const k of [a, b]) expect(host.replica(partitionOf(map, k)).state.lockCount).toBe(0);
  });

  it("a decided commit whose participant records were lost is rolled forward by readers", async () => {
    const { kv, cluster } = await store();
    const [a, b] = keysOnTwoPartitions();
    const { primary, commitVersion } = await prepareByHand(cluster, map, "half", [a, b], "v");
    cluster.appendNow(
      map.groups[primary]!,
      encodeRecord({ type: "commit", txnId: "half", commitVersion }),
      commitVersion,
    );
    await cluster.waitGtsAbove(commitVersion);
    expect(await kv.get(a)).toBe("v");
    expect(await kv.get(b)).toBe("v");
  });

  it("serves reads with the leader fence without a watermark round; reads waiting together share a request", async () => {
    const { kv, cluster } = await store({ fence: "leader" });
    await kv.put("x", "1");
    const before = cluster.fences;
    const reads = await Promise.all(Array.from({ length: 20 }, () => kv.get("x")));
    expect(reads).toEqual(Array(20).fill("1"));
    expect(cluster.fences - before).toBeGreaterThan(0);
    expect(cluster.fences - before).toBeLessThan(20);
  });

  it("serves reads with the watermark fence as well", async () => {
    const { kv, cluster } = await store({ fence: "watermark" });
    let ticking = true;
    const ticker = (async () => {
      while (ticking) {
        await cluster.tick();
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    try {
      await kv.put("w", "1");
      expect(await kv.get("w")).toBe("1");
    } finally {
      ticking = false;
      await ticker;
    }
  });
});
