import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type PalfClient } from "@palf/client";
import { LocalCluster } from "@palf/palfd/local-cluster";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const nodes = ["n1", "n2", "n3"];
let dir: string;
let cluster: LocalCluster;
let client: PalfClient;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-gts-"));
  cluster = new LocalCluster({ nodes, dataDir: dir, leaseMs: 1000 });
  await cluster.start();
  client = await connect({ cluster: "palf", nodes, servers: cluster.natsUrl });
  await client.createGroup(0, nodes);
}, 90_000);

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The node whose replica of group 0 leads with a valid lease, asked of every node. */
async function gtsLeader(): Promise<string | undefined> {
  for (const n of nodes) {
    try {
      const s = (await client.status(n, { group: 0 })) as { role?: string; leaseValid?: boolean } | null;
      if (s?.role === "leader" && s.leaseValid) return n;
    } catch {
      // a killed node does not answer
    }
  }
  return undefined;
}

describe("GTS on a real 3-node cluster", () => {
  it("timestamps never go back, in real time, across two kill -9s of the GTS leader", async () => {
    let maxSeen = await client.timestamp();
    let violations = 0;
    let received = 0;
    let stop = false;
    // Each caller checks its value against every value any caller had before it asked.
    const caller = async () => {
      while (!stop) {
        const floor = maxSeen;
        try {
          const ts = await client.timestamp();
          if (ts <= floor) violations++;
          if (ts > maxSeen) maxSeen = ts;
          received++;
        } catch {
          // no leader for a moment: the caller asks again
        }
      }
    };
    const callers = Array.from({ length: 32 }, caller);
    for (let round = 0; round < 2; round++) {
      const leader = await gtsLeader();
      expect(leader).toBeDefined();
      const before = received;
      await cluster.kill(leader!);
      const killedAt = maxSeen;
      // Served again by a successor, above everything served before the kill.
      const deadline = Date.now() + 30_000;
      while (received < before + 100 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(received).toBeGreaterThanOrEqual(before + 100);
      expect(maxSeen).toBeGreaterThan(killedAt);
      await cluster.startNode(leader!);
    }
    stop = true;
    await Promise.all(callers);
    expect(violations).toBe(0);
  }, 120_000);
});
