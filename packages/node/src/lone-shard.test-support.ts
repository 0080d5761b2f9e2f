// For tests: one shard of single-member groups on "n1" (each group commits on its own durability), every
// group led before it returns; the shard goes into `shards` at once, so a test's afterEach stops it.
import type { ShardWal } from "@palf/storage";
import type { Logger } from "pino";
import { Shard, type ShardOptions } from "./shard.ts";
import { until } from "./wait-until.test-support.ts";

export async function loneShard(
  wal: ShardWal,
  log: Logger,
  groups: readonly number[],
  shards: Shard[],
  extra: Partial<ShardOptions> = {},
): Promise<{ shard: Shard; fatal: Error[] }> {
  const fatal: Error[] = [];
  const shard: Shard = new Shard({
    nodeId: "n1",
    index: 0,
    wal,
    log,
    send: () => {},
    deliverLocal: (messages) => shard.receive(messages),
    onLeader: () => {},
    onFatal: (err) => fatal.push(err),
    replica: { lease: { leaseMs: 600, renewMs: 100, electionJitterMs: 50, voteWindowMs: 20 } },
    ...extra,
  });
  shards.push(shard);
  for (const g of groups) shard.addGroup(g, ["n1"], [], 0);
  await until("every group led", () => groups.every((g) => shard.replica(g)?.role === "leader"));
  return { shard, fatal };
}
