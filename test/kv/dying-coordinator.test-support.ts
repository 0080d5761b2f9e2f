// A coordinator process that dies (SIGKILL) between its prepares and its decision: run by kv-bank.test.ts as
// its own process. Args: NATS URL, the partition map as JSON, two account keys.
import { connect } from "@palf/client";
import { openKv, type PartitionMap, palfKvCluster } from "@palf/kv";

const [natsUrl, mapJson, from, to] = process.argv.slice(2) as [string, string, string, string];
const client = await connect({ cluster: "palf", nodes: ["n1", "n2", "n3"], servers: natsUrl });
const kv = await openKv({
  cluster: palfKvCluster(client),
  map: JSON.parse(mapJson) as PartitionMap,
  host: { readFence: "append", resolveEveryMs: 0 },
  afterPrepare: (txnId) => {
    process.stdout.write(`${JSON.stringify({ prepared: txnId })}\n`, () =>
      process.kill(process.pid, "SIGKILL"),
    );
    return new Promise<void>(() => {});
  },
});
await kv.txn(async (tx) => {
  const [f, t] = await Promise.all([tx.get(from), tx.get(to)]);
  tx.put(from, String(Number(f) - 7));
  tx.put(to, String(Number(t) + 7));
});
process.stdout.write("committed: the coordinator should have died\n");
process.exit(3);
