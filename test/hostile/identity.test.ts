// Identity over a real nats-server with docker/nats-roles.conf: three palfd nodes, each with its own NATS
// user, an admin and a client user. A client credential cannot publish peer frames, admin requests or
// events; a node credential cannot publish in another node's name, and a message it sends naming another
// node as its sender is dropped by the receiver (counted). Throughout, the cluster keeps working and loses
// nothing acknowledged.
import { execFileSync } from "node:child_process";
import type { Message } from "@palf/core";
import { CLUSTER, rpc } from "@palf/harness";
import {
  connectNatsTransport,
  decodeResponse,
  encodeBatches,
  encodeRpc,
  findNatsServer,
  type NatsTransport,
} from "@palf/transport";
import { afterAll, describe, expect, it } from "vitest";
import {
  AckLog,
  assertNothingLost,
  faultSuite,
  startLoad,
  verifyNothingLost,
  waitFor,
} from "../faults/fault-kit.test-support.ts";
import { makeRoles, ROLES_CONF } from "./roles.test-support.ts";

const FILE = "test/hostile/identity.test.ts";
const nodes = ["n1", "n2", "n3"];
const GROUPS = 8;
const roles = makeRoles();
const suite = faultSuite(FILE, {
  nodes,
  groups: GROUPS,
  leaseMs: 1000,
  shards: 1,
  nats: { args: ["-c", ROLES_CONF], env: roles.env },
  nodeArgs: (n) => ["--user", n, "--pass-file", roles.passFile(n)],
  connection: { user: "admin", pass: roles.pass.admin! },
});
const opened: NatsTransport[] = [];

afterAll(async () => {
  for (const t of opened) await t.close().catch(() => {});
  roles.remove();
});

/** A raw connection as `user`, speaking as node `as`; collects the permission violations the server reports. */
async function intruder(servers: string, user: string, as: string) {
  const t = await connectNatsTransport({
    cluster: CLUSTER,
    nodeId: as,
    servers,
    connection: { user, pass: roles.pass[user]! },
    log: () => {},
  });
  opened.push(t);
  const violations: string[] = [];
  t.onStatus((s) => {
    if (s.type === "error" && /permission/i.test(String(s.error?.message))) violations.push(s.error.message);
  });
  return { t, violations };
}

const prepare = (group: number, from: string, to: string, pid: number): Message => ({
  type: "prepare",
  group,
  inc: 0,
  from,
  to,
  pid,
});

describe("identity: NATS roles bind each credential to what it may say", { timeout: 240_000 }, () => {
  it("the roles config is valid for nats-server", () => {
    const out = execFileSync(findNatsServer(), ["-c", ROLES_CONF, "-t"], {
      env: { ...process.env, ...roles.env },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
    expect(out + "").toBeDefined();
  });

  it("refuses a client's peer frames, admin requests and events, and a node speaking for another; the cluster keeps working", async () => {
    suite.watchFailure();
    const fc = suite.cluster();
    const url = fc.cluster.natsUrl;
    const acks = new AckLog();
    const admin = await fc.client();
    const load = startLoad(admin, acks, { groups: GROUPS, loops: GROUPS, size: 64, phase: 1 });
    await waitFor("the load commits", () => acks.count >= 50, 30_000);
    const before = await Promise.all(nodes.map((n) => rpc(fc.probe, n, { op: "status" })));

    // 1. A client credential (posing as n2) sends a forged prepare to n1, an admin request, and a leader event.
    const client = await intruder(url, "client", "n2");
    client.t.send("n1", 0, encodeBatches([prepare(1, "n2", "n1", 2 ** 40)])[0]!);
    const adminTry = client.t
      .request("n1", encodeRpc({ op: "deleteGroup", group: 1 }), 3000, { admin: true })
      .then(
        () => "answered",
        (e: Error) => e.message,
      );
    client.t.publish("events.leader", encodeRpc([{ group: 1, leader: "n2", pid: 2 ** 40 }]));
    expect(await adminTry).toMatch(/timed out|no node/);
    await waitFor(
      "permission violations reported to the client",
      () => client.violations.length >= 3,
      10_000,
    );

    // 2. The client credential still does what clients do: an append through the plain rpc subject works.
    const views = (await fc.views()).get(1)!;
    const leader = [...views].find(([, v]) => v?.role === "leader")?.[0] ?? "n1";
    const append = await rpc(client.t, leader, {
      op: "append",
      group: 1,
      items: [{ payload: Buffer.from("c") }],
    });
    expect(append.ok).toBe(true);
    // ... and an admin op on the plain subject is answered FORBIDDEN.
    const forbidden = decodeResponse(
      await client.t.request(leader, encodeRpc({ op: "deleteGroup", group: 1 }), 10_000),
    );
    expect(forbidden).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });

    // 3. Node n3's credential: publishing as n1 is refused by the server; publishing in its own name with
    //    messages claiming n1 as sender reaches n2, which drops them (messagesForged).
    const n3AsN1 = await intruder(url, "n3", "n1");
    n3AsN1.t.send("n2", 0, encodeBatches([prepare(2, "n1", "n2", 2 ** 40)])[0]!);
    await waitFor("n3 may not publish as n1", () => n3AsN1.violations.length >= 1, 10_000);
    const n3 = await intruder(url, "n3", "n3");
    n3.t.send("n2", 0, encodeBatches([prepare(2, "n1", "n2", 2 ** 40), prepare(3, "n1", "n2", 2 ** 40)])[0]!);
    await waitFor(
      "n2 dropped the messages n3 sent in n1's name",
      async () => {
        const s = await rpc(fc.probe, "n2", { op: "status" });
        return (
          s.ok &&
          s.op === "status" &&
          (s.status as { transport: { messagesForged: number } }).transport.messagesForged >= 2
        );
      },
      10_000,
    );
    expect(n3.violations).toEqual([]);

    // No forged pid took hold: every group is led, no replica promised a pid near 2^40, groups 1-3 still exist.
    await waitFor("load goes on", () => acks.count >= 150, 60_000);
    const stats = await load.stop();
    expect(stats.ackedTotal).toBeGreaterThan(0);
    await fc.waitAllLed(nodes, 45_000);
    for (const g of fc.groups)
      for (const n of nodes) {
        const s = await rpc(fc.probe, n, { op: "status", group: g });
        if (!s.ok || s.op !== "status") throw new Error(`status of group ${g} on ${n}: ${JSON.stringify(s)}`);
        expect((s.status as { promisedPid: number }).promisedPid, `group ${g} on ${n}`).toBeLessThan(2 ** 30);
      }
    const after = await Promise.all(nodes.map((n) => rpc(fc.probe, n, { op: "status" })));
    expect(after.map((s) => s.ok)).toEqual(before.map(() => true));
    assertNothingLost(
      await verifyNothingLost({ probe: fc.probe, nodes, groups: fc.groups, acks }),
      suite.replay,
    );
  });
});
