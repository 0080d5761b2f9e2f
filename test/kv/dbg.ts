import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { commitStats, RemoteKvService } from "@palf/kv";
import { accountNames, initAccounts, runBank } from "@palf/kv-app/bank-workload";
import { LocalStore } from "@palf/kv-app/local-store";
import { connectNatsTransport } from "@palf/transport";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-kv-dbg-"));
const store = new LocalStore({
  dataDir: dir,
  partitions: 4,
  lockTimeoutMs: 1000,
  checkpointMs: 1000,
  readFence: (process.argv[2] ?? "watermark") as "watermark",
});
await store.start();
const remote = process.argv[3] !== "local";
const { kv, close } = await store.openKv({ remote });
const A = accountNames(40);
let t = performance.now();
await initAccounts(kv, A, 100);
console.log("init", performance.now() - t);
let stop = false;
const side = await store.openKv({ remote: false });
const cdc = side.kv.changes();
let seen = 0;
let lastV = 0;
void (async () => {
  for await (const c of cdc) {
    seen++;
    lastV = c.commitVersion;
  }
})();
setInterval(
  () =>
    console.log(
      "cdc",
      seen,
      lastV,
      (cdc as any).frontier(),
      (cdc as any).pending.size,
      (cdc as any).replicas.map((r: any) => [r.readFrom, r.w, r.stats.fences]),
    ),
  1000,
).unref();
t = performance.now();
const bank = runBank({ kv, accounts: A, concurrency: 8, done: () => stop, seed: 1 });
await new Promise((r) => setTimeout(r, 5000));
stop = true;
const r = await bank;
console.log({
  committed: r.committed,
  perS: r.committed / 5,
  p50: r.latenciesMs.sort((a, b) => a - b)[r.latenciesMs.length >> 1],
  stats: kv.stats,
  commitStats,
});
const tr = await connectNatsTransport({ cluster: "palf", nodeId: "dbg", servers: store.natsUrl });
console.log(JSON.stringify(await new RemoteKvService(tr, { servers: ["kv1"] }).status("kv1")));
await tr.close();
await close();
await store.stop();
console.log(dir);
