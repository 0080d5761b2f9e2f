import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LocalCluster } from "@palf/palfd/local-cluster";
import { connectNatsTransport, decodeResponse, encodeRpc } from "@palf/transport";

const G = Number(process.argv[2] ?? 1000);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "idle-"));
const c = new LocalCluster({ nodes: ["n1", "n2", "n3"], dataDir: dir, leaseMs: 4000 });
await c.start();
const t = await connectNatsTransport({ cluster: "palf", nodeId: "probe", servers: c.natsUrl });
const t0 = performance.now();
await Promise.all(
  ["n1", "n2", "n3"].map(async (n) => {
    for (let g = 1; g <= G; g += 100)
      await Promise.all(
        Array.from({ length: Math.min(100, G - g + 1) }, (_, i) =>
          t.request(n, encodeRpc({ op: "createGroup", group: g + i, members: ["n1", "n2", "n3"] }), 10000),
        ),
      );
  }),
);
console.log("created", performance.now() - t0);
await new Promise((r) => setTimeout(r, 15000));
const cpu = (pid: number) => {
  const s = fs.readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(s[11]) + Number(s[12])) / 100;
};
const before = [...c.procs.values()].map((p) => cpu(p.pid!));
await new Promise((r) => setTimeout(r, 5000));
const after = [...c.procs.values()].map((p) => cpu(p.pid!));
console.log(
  "cpu% per node",
  after.map((a, i) => (((a - before[i]!) / 5) * 100).toFixed(1)),
);
const st = decodeResponse(await t.request("n1", encodeRpc({ op: "status" }), 5000)) as any;
console.log(
  "leaders n1",
  st.status.leaders,
  "groups",
  st.status.groups,
  JSON.stringify(st.status.lease),
  JSON.stringify(st.status.shardStats),
);
await t.close();
await c.stop();
fs.rmSync(dir, { recursive: true, force: true });
