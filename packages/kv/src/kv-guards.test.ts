// One guard per rule of DESIGN.md section 5: each scenario reports violations of the rule; with every rule
// on it reports none, and with the rule's unsafe switch on it catches the violation.
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { encodeRecord } from "./kv-record.ts";
import { realKvRuntime } from "./kv-runtime.ts";
import { type Kv, openKv } from "./kv-store.ts";
import {
  consultedKvSwitches,
  type KvUnsafeSwitches,
  kvUnsafeSwitchNames,
  withKvUnsafe,
} from "./kv-unsafe.ts";
import { MemoryKvCluster, prepareByHand } from "./memory-kv-cluster.test-support.ts";
import { type PartitionMap, partitionOf } from "./partition-map.ts";
import { PartitionState } from "./partition-state.ts";

const map: PartitionMap = { version: 1, scheme: "hash", groups: [31, 32, 33] };

async function guarded(on: Partial<KvUnsafeSwitches>, scenario: () => Promise<string[]>): Promise<void> {
  expect(await scenario(), "with every rule on").toEqual([]);
  expect((await withKvUnsafe(on, scenario)).length, `${JSON.stringify(on)} is caught`).toBeGreaterThan(0);
  // The scenario really ran the switched code, not only named the switch.
  expect(consultedKvSwitches()).toEqual(Object.keys(on).sort());
}

async function store() {
  const cluster = new MemoryKvCluster(realKvRuntime, map.groups);
  const kv = await openKv({
    cluster,
    map,
    host: { readFence: "append", resolveEveryMs: 0, lockTimeoutMs: 60_000 },
  });
  return { cluster, kv };
}

/** Runs a scenario on a fresh store, closing it after. */
async function withStore(
  scenario: (s: Awaited<ReturnType<typeof store>>) => Promise<string[]>,
): Promise<string[]> {
  const s = await store();
  try {
    return await scenario(s);
  } finally {
    await s.kv.close();
  }
}

/** One attempt of a transaction writing "1" to both keys; undefined when it did not commit. */
function writeBoth(kv: Kv, a: string, b: string) {
  return kv
    .transact(
      async (tx) => {
        tx.put(a, "1");
        tx.put(b, "1");
      },
      { maxAttempts: 1 },
    )
    .catch(() => undefined);
}

function twoPartitionKeys(): [string, string] {
  for (let i = 1; ; i++) if (partitionOf(map, `k${i}`) !== partitionOf(map, "k0")) return ["k0", `k${i}`];
}

describe("guards of the store's rules", () => {
  it("the primary's first decision record is the only decision", async () => {
    await guarded({ laterDecisionWins: true }, async () => {
      const s = new PartitionState(0);
      const recs = [
        encodeRecord({
          type: "prepare",
          txnId: "t",
          snapshot: 1,
          writes: [{ key: "a", value: "v" }],
          primary: 0,
          participants: [0, 1],
        }),
        encodeRecord({ type: "commit", txnId: "t", commitVersion: 10 }),
        encodeRecord({ type: "abort", txnId: "t" }),
      ];
      for (const [lsn, payload] of recs.entries()) s.apply({ lsn, csn: 10 + lsn, payload });
      return s.txn("t")?.state === "committed" ? [] : [`the decision became ${s.txn("t")?.state}`];
    });
  });

  it("a reader never skips a lock whose prepare version is at or below its snapshot", async () => {
    await guarded({ readSkipsLocks: true }, () =>
      withStore(async ({ cluster, kv }) => {
        const [a, b] = twoPartitionKeys();
        const { primary, commitVersion: c } = await prepareByHand(cluster, map, "x", [a, b], "new");
        // Decided at the primary only: the other participant still holds the lock.
        cluster.appendNow(
          map.groups[primary]!,
          encodeRecord({ type: "commit", txnId: "x", commitVersion: c }),
          c,
        );
        await cluster.waitGtsAbove(c);
        const got = [await kv.get(a), await kv.get(b)];
        return got.every((x) => x === "new") ? [] : [`read ${JSON.stringify(got)} after the commit`];
      }),
    );
  });

  it("a read waits for the fence: it never misses a prepare at or below its snapshot that lands after it asked", async () => {
    await guarded({ skipReadFence: true }, () =>
      withStore(async ({ cluster, kv }) => {
        await kv.get("f"); // the replica is caught up and idle
        const g = map.groups[partitionOf(map, "f")]!;
        const ref = await cluster.timestamp();
        const s = await cluster.timestamp();
        // A one-phase write prepared with refCsn below s lands in the log; its version is <= s.
        const w = cluster.appendNow(
          g,
          encodeRecord({
            type: "prepare",
            txnId: "late",
            snapshot: ref - 1,
            writes: [{ key: "f", value: "late" }],
            primary: partitionOf(map, "f"),
            participants: [partitionOf(map, "f")],
          }),
          ref,
        );
        if (w.csn > s) return [];
        const got = await kv.get("f", { snapshot: s });
        return got === "late" ? [] : [`a read at ${s} missed the write committed at ${w.csn}`];
      }),
    );
  });

  it("the commit version is at least every prepare version", async () => {
    await guarded({ commitAtMinPrepare: true }, () =>
      withStore(async ({ cluster, kv }) => {
        const [a, b] = twoPartitionKeys();
        // Push one partition's CSNs ahead so the two prepare versions differ.
        const g = map.groups[partitionOf(map, b)]!;
        cluster.appendNow(g, encodeRecord({ type: "fence" }), (await cluster.timestamp()) + 1_000_000);
        const r = await writeBoth(kv, a, b);
        if (r?.commitVersion === undefined) return ["the transaction did not commit"];
        const out: string[] = [];
        const host = kv.service as unknown as { replica(p: number): { state: PartitionState } };
        for (const p of [partitionOf(map, a), partitionOf(map, b)]) {
          const t = host.replica(p).state.txn(r.txnId);
          if (t?.prepareVersion !== undefined && r.commitVersion < t.prepareVersion)
            out.push(
              `commit version ${r.commitVersion} < prepare version ${t.prepareVersion} on partition ${p}`,
            );
        }
        return out;
      }),
    );
  });

  it("CDC never emits version c while an undecided prepare at or below c is known", async () => {
    await guarded({ cdcIgnoresUndecided: true }, () =>
      withStore(async ({ cluster, kv }) => {
        const [a, b] = twoPartitionKeys();
        const { primary, commitVersion: c } = await prepareByHand(cluster, map, "slow", [a, b], "1");
        const fast = await kv.transact(async (tx) => tx.put("other", "1")); // commit version above the prepares
        const cdc = kv.changes();
        const got: Array<[string, number]> = [];
        const reading = (async () => {
          for await (const t of cdc) {
            got.push([t.txnId, t.commitVersion]);
            if (got.length === 2) return;
          }
        })();
        await new Promise((r) => setTimeout(r, 100));
        cluster.appendNow(
          map.groups[primary]!,
          encodeRecord({ type: "commit", txnId: "slow", commitVersion: c }),
          c,
        );
        await Promise.race([reading, new Promise((r) => setTimeout(r, 1500))]);
        await cdc.close();
        // Delivered out of order, or dropped as "already delivered" behind a later version: both break it.
        if (!got.some(([id]) => id === "slow") || !got.some(([id]) => id === fast.txnId))
          return [`delivered ${JSON.stringify(got)}: a transaction is missing`];
        for (let i = 1; i < got.length; i++)
          if (got[i]![1] < got[i - 1]![1])
            return [`emitted ${got[i - 1]![0]} at ${got[i - 1]![1]} before ${got[i]![0]} at ${got[i]![1]}`];
        return [];
      }),
    );
  });

  it("conflicts are decided when the prepares are applied in log order, not from the state the coordinator read", async () => {
    await guarded({ conflictsDecidedAheadOfLog: true }, () =>
      withStore(async ({ cluster, kv }) => {
        // a on a lower partition than b, so a's partition is the primary; c elsewhere than b.
        const keys = Array.from({ length: 40 }, (_, i) => `k${i}`);
        const b = keys.find((k) => partitionOf(map, k) === 2)!;
        const a = keys.find((k) => partitionOf(map, k) === 0)!;
        const c = keys.find((k) => partitionOf(map, k) === 1)!;
        // Another transaction holds b (prepared, undecided): our prepare on b's partition is refused there.
        await prepareByHand(cluster, map, "holder", [b, c], "held");
        const r = await writeBoth(kv, a, b);
        if (r === undefined) return [];
        const host = kv.service as unknown as { replica(p: number): { state: PartitionState } };
        const atB = host.replica(2).state.txn(r.txnId);
        return atB?.state === "prepared" || atB?.state === "committed"
          ? []
          : [`${r.txnId} committed although its prepare on partition 2 was ${atB?.state} (${atB?.reason})`];
      }),
    );
  });

  it("no answer before GTS has passed the commit version: a later read sees the write", async () => {
    await guarded({ skipCommitWait: true }, () =>
      withStore(async ({ cluster, kv }) => {
        // Push the partition's CSNs ahead of GTS, as a burst of appends does.
        const g = map.groups[partitionOf(map, "w")]!;
        cluster.appendNow(g, encodeRecord({ type: "fence" }), (await cluster.timestamp()) + 1_000_000);
        const c = await kv.put("w", "v");
        const got = await kv.get("w");
        return got === "v" ? [] : [`a read after the answer of a commit at ${c} got ${String(got)}`];
      }),
    );
  });

  it("a partition restored from a checkpoint is the state it had: its locks included", async () => {
    await guarded({ recoveryDropsLocks: true }, async () => {
      const s = new PartitionState(0);
      s.apply({
        lsn: 0,
        csn: 10,
        payload: encodeRecord({
          type: "prepare",
          txnId: "t",
          snapshot: 5,
          writes: [{ key: "a", value: "v" }],
          primary: 0,
          participants: [0, 1],
        }),
      });
      const restored = PartitionState.restore(s.checkpoint());
      const got = restored.read("a", 20);
      return got.kind === "locked"
        ? []
        : [`the restored partition reads ${JSON.stringify(got)} under a lock`];
    });
  });

  it("every unsafe switch is turned on by a guard here", () => {
    const text = readFileSync(new URL(import.meta.url), "utf8");
    expect(kvUnsafeSwitchNames.filter((n) => !new RegExp(`\\b${n}: true\\b`).test(text))).toEqual([]);
  });
});
