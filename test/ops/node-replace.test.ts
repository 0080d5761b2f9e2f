// Replacing a dead node on a real cluster: 4 palfd processes, 200 groups on n1-n3 under an append load,
// kill -9 n3, `palfctl node replace n3 n4` (run as a user would, twice: the second run finds nothing left),
// then every group is led with members {n1, n2, n4}, every acknowledged append reads back from every
// replica (n4 included), and after a second kill -9 (n1) every group is still led and appendable.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { connect, type PalfClient } from "@palf/client";
import { CLUSTER, createGroups, waitAllLed } from "@palf/harness";
import { LocalCluster } from "@palf/palfd/local-cluster";
import { connectNatsTransport, type NatsTransport } from "@palf/transport";
import { afterAll, describe, expect, it } from "vitest";
import {
  AckLog,
  appendToEveryGroup,
  assertNothingLost,
  faultSeed,
  startLoad,
  verifyNothingLost,
  waitFor,
} from "../faults/fault-kit.test-support.ts";

const FILE = "test/ops/node-replace.test.ts";
const root = fileURLToPath(new URL("../..", import.meta.url));
const nodes = ["n1", "n2", "n3", "n4"];
const GROUPS = 200;
const { rng, replay } = faultSeed(FILE);
const cleanups: Array<() => Promise<unknown>> = [];

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

/** Runs palfctl as a separate process (async: the test's own load keeps running meanwhile). */
function palfctl(
  natsUrl: string,
  args: readonly string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const argv = [
    "--import",
    "tsx",
    "apps/palfctl/src/main.ts",
    "--nats",
    natsUrl,
    "--nodes",
    nodes.join(","),
    ...args,
  ];
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      argv,
      { cwd: root, timeout: 240_000, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const lastJson = (out: string) => JSON.parse(out.trim().split("\n").at(-1)!);

describe("palfctl node replace on a real cluster", () => {
  it("replaces a node killed under load: every group led by {n1,n2,n4}, nothing acknowledged lost, and it survives a second kill", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-replace-"));
    const cluster = new LocalCluster({ nodes, dataDir: dir, cluster: CLUSTER, leaseMs: 1000, shards: 2 });
    let passed = false;
    cleanups.push(async () => {
      await cluster.stop();
      if (passed) fs.rmSync(dir, { recursive: true, force: true });
      else console.error(`${replay}\n[ops] logs and data kept in ${dir}`);
    });
    await cluster.start();
    const probe: NatsTransport = await connectNatsTransport({
      cluster: CLUSTER,
      nodeId: `probe-${process.pid}`,
      servers: cluster.natsUrl,
      log: () => {},
    });
    cleanups.push(() => probe.close());
    const client: PalfClient = await connect({
      cluster: CLUSTER,
      nodes,
      servers: cluster.natsUrl,
      log: () => {},
    });
    cleanups.push(() => client.close());
    await createGroups(client, GROUPS, ["n1", "n2", "n3"], 16);
    await waitAllLed(client, ["n1", "n2", "n3"], GROUPS, 60_000);
    const groups = Array.from({ length: GROUPS }, (_, i) => i + 1);

    const acks = new AckLog();
    const size = rng.int(32, 256);
    const load = startLoad(client, acks, { groups: GROUPS, loops: 64, size, phase: 1 });
    await waitFor("the load commits", () => acks.count >= 400, 60_000);
    await cluster.kill("n3");
    const before = acks.count;

    const first = await palfctl(cluster.natsUrl, ["node", "replace", "n3", "n4"]);
    expect(first.code, first.stderr).toBe(0);
    expect(lastJson(first.stdout)).toMatchObject({ groups: GROUPS, replaced: GROUPS, failed: [] });
    // Safe to run again: nothing is left to do.
    const second = await palfctl(cluster.natsUrl, ["node", "replace", "n3", "n4"]);
    expect(second.code, second.stderr).toBe(0);
    expect(lastJson(second.stdout)).toMatchObject({ groups: 0, replaced: 0, failed: [] });
    await waitFor(
      "appends kept being acknowledged during the replace",
      () => acks.count > before + 200,
      60_000,
    );
    const stats = await load.stop();
    console.log(
      `[ops] ${FILE}: replace ${JSON.stringify(lastJson(first.stdout))}, acked ${acks.count}`,
      stats,
    );

    const listed = await palfctl(cluster.natsUrl, ["groups", "--json"]);
    expect(listed.code, listed.stderr).toBe(0);
    const rows = listed.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    expect(rows).toHaveLength(GROUPS);
    for (const r of rows) {
      expect([...r.members].sort(), `group ${r.group}`).toEqual(["n1", "n2", "n4"]);
      expect(r.learners).toEqual([]);
    }
    await waitFor(
      "every group led by one of n1, n2, n4",
      async () => {
        const out = await palfctl(cluster.natsUrl, ["groups", "--json"]);
        return out.stdout
          .trim()
          .split("\n")
          .map((l) => JSON.parse(l))
          .every((r) => ["n1", "n2", "n4"].includes(r.leader));
      },
      60_000,
    );

    const report = await verifyNothingLost({
      probe,
      nodes: ["n1", "n2", "n4"],
      groups,
      acks,
      catchUpMs: 90_000,
    });
    assertNothingLost(report, replay);
    expect(report.acked).toBeGreaterThan(0);

    // {n2, n4} is a majority of every group now: losing n1 leaves every group available.
    await cluster.kill("n1");
    await waitFor(
      "every group led again after n1's kill",
      async () => {
        const out = await palfctl(cluster.natsUrl, ["--nodes", "n2,n4", "groups", "--json"]);
        const rs = out.stdout
          .trim()
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l));
        return rs.length === GROUPS && rs.every((r) => r.leader === "n2" || r.leader === "n4");
      },
      90_000,
    );
    await appendToEveryGroup(client, groups, acks, 2);
    passed = true;
  }, 420_000);
});
