import { execFile } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { connect } from "@palf/client";
import { FakeCluster } from "@palf/client/testing";
import {
  connectNatsTransport,
  findNatsServer,
  type NatsServerProcess,
  startNatsServer,
} from "@palf/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliIo, runCli } from "./cli.ts";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const main = "apps/palfctl/src/main.ts";

const cleanEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("PALF_")));

/** Runs palfctl as a user would: `node --import tsx apps/palfctl/src/main.ts ...` from the repo root. */
function palfctl(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", "tsx", main, ...args],
      { cwd: root, timeout: 60_000, env: cleanEnv },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === "number" ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

describe("palfctl argument handling (spawned)", { timeout: 60_000 }, () => {
  const usage: Array<[string, string[], RegExp]> = [
    ["an unknown flag", ["--bogus", "status"], /unknown option '--bogus'/],
    ["a non-numeric --max", ["read", "1", "--max", "abc"], /'--max <n>' argument 'abc' is invalid/],
    ["a negative group id", ["read", "-5"], /unknown option '-5'|invalid/],
    ["a missing --members", ["create-group", "7"], /required option '--members <ids>' not specified/],
    ["a member listed twice", ["create-group", "7", "--members", "n1,n1"], /listed twice/],
    ["a group id of 2^32", ["create-group", "4294967296", "--members", "n1"], /uint32/],
    ["a group id of 2^32 in --groups", ["tail", "--cdc", "--groups", "1,4294967296"], /uint32/],
    ["a bad node id", ["status", "--node", "a.b"], /node ids match/],
    ["a missing argument", ["transfer", "3"], /missing required argument 'target'/],
    ["an unknown command", ["frobnicate"], /unknown command 'frobnicate'/],
    ["a bad NATS URL", ["--nats", "not a url", "status"], /not a NATS URL/],
    ["no command", [], /Usage: palfctl/],
    ["a bad --groups list for tail --cdc", ["tail", "--cdc", "--groups", "1,x"], /--groups <ids>/],
    ["member add without a node", ["member", "add", "7"], /missing required argument 'node'/],
    ["a bad node id for member remove", ["member", "remove", "7", "a.b"], /node ids match/],
    ["a replica number of 0", ["member", "replica-num", "7", "0"], /positive integer/],
    ["node replace without the new node", ["node", "replace", "n3"], /missing required argument 'new'/],
    ["a zero --concurrency", ["node", "drain", "n3", "--concurrency", "0"], /positive integer/],
  ];

  it.each(usage)("exits 2 with a message for %s", async (_what, args, message) => {
    const r = await palfctl(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe("");
  });

  it("prints help on stdout and exits 0", async () => {
    const r = await palfctl(["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: palfctl/);
    expect(r.stdout).toMatch(/create-group/);
  });

  it("exits 1 with a clear message when NATS is unreachable", async () => {
    const port = await freePort();
    const r = await palfctl(["--nats", `nats://127.0.0.1:${port}`, "status"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`UNAVAILABLE: cannot connect to NATS at nats://127.0.0.1:${port}`));
  });
});

describe("palfctl commands (in process, fake cluster)", () => {
  function harness(env: Record<string, string> = {}) {
    const cluster = new FakeCluster();
    const out: string[] = [];
    const err: string[] = [];
    const io = (signal?: AbortSignal): CliIo => ({
      out: (l) => out.push(l),
      err: (t) => err.push(t),
      env,
      connect: (o) => connect({ ...o, transport: cluster.clientTransport(`client-${out.length}`) }),
      ...(signal === undefined ? {} : { signal }),
    });
    const lines = () => out.splice(0).map((l) => JSON.parse(l) as Record<string, unknown>);
    return { cluster, io, out, err, lines };
  }

  it("creates a group, appends, reads, locates and transfers", async () => {
    const { cluster, io, lines, err } = harness();
    expect(await runCli(["create-group", "7", "--members", "n1,n2,n3", "--inc", "5"], io())).toBe(0);
    expect(lines()).toEqual([{ group: 7, inc: 5, nodes: ["n1", "n2", "n3"] }]);
    expect(cluster.requestsOf("createGroup").map((r) => r.node)).toEqual(["n1", "n2", "n3"]);

    expect(await runCli(["append", "7", "hello", "world"], io())).toBe(0);
    expect(lines()).toEqual([
      { group: 7, lsn: 0, csn: 1, text: "hello" },
      { group: 7, lsn: 21, csn: 2, text: "world" },
    ]);
    expect(cluster.requestsOf("append")).toHaveLength(1);

    expect(await runCli(["read", "7", "--from", "0", "--max", "1"], io())).toBe(0);
    expect(lines()).toEqual([{ group: 7, lsn: 0, csn: 1, text: "hello" }]);
    expect(await runCli(["read", "7"], io())).toBe(0);
    expect(lines().map((l) => l.text)).toEqual(["hello", "world"]);

    expect(await runCli(["locate", "7", "2"], io())).toBe(0);
    expect(lines()).toEqual([{ group: 7, lsn: 21, csn: 2, text: "world" }]);

    expect(await runCli(["transfer", "7", "n2"], io())).toBe(0);
    expect(lines()).toEqual([{ group: 7, target: "n2", requested: true }]);
    expect(cluster.leaderOf(7)).toBe("n2");
    expect(err).toEqual([]);
  });

  it("prints GTS timestamps that increase, and refuses tail without a group or with both --cdc and a group", async () => {
    const { io, lines, err } = harness();
    expect(await runCli(["timestamp"], io())).toBe(0);
    expect(await runCli(["timestamp"], io())).toBe(0);
    const [a, b] = lines().map((l) => l.gts as number);
    expect(b).toBeGreaterThan(a!);
    expect(await runCli(["tail"], io())).toBe(2);
    expect(await runCli(["tail", "3", "--cdc"], io())).toBe(2);
    expect(err.join("")).toMatch(/tail needs a group[\s\S]*takes no group argument/);
  });

  it("lists groups with members, learners and leader, as JSON lines or a table, filtered by --node", async () => {
    const { cluster, io, lines, out } = harness();
    cluster.addGroup(1, ["n1", "n2", "n3"], "n1");
    cluster.addGroup(2, ["n2", "n3"], "n3");
    expect(await runCli(["groups", "--json"], io())).toBe(0);
    expect(lines()).toMatchObject([
      { group: 1, leader: "n1", members: ["n1", "n2", "n3"], learners: [], hosts: ["n1", "n2", "n3"] },
      { group: 2, leader: "n3", members: ["n2", "n3"], learners: [] },
    ]);
    expect(await runCli(["groups", "--json", "--node", "n1"], io())).toBe(0);
    expect(lines().map((l) => l.group)).toEqual([1]);
    expect(await runCli(["groups"], io())).toBe(0);
    const table = out.splice(0);
    expect(table[0]).toMatch(/^GROUP\s+LEADER\s+MEMBERS/);
    expect(table[2]).toMatch(/^2\s+n3\s+n2,n3/);
  });

  it("prints one status line per node, with errors inline", async () => {
    const { cluster, io, lines } = harness();
    cluster.addGroup(1, ["n1", "n2"], "n1");
    expect(await runCli(["status", "--node", "n2"], io())).toBe(0);
    expect(lines()).toEqual([
      { node: "n2", status: { node: "n2", groups: [{ group: 1, leader: "n1", role: "follower" }] } },
    ]);
    cluster.node("n3").intercept = () => ({ ok: false, error: { code: "STOPPING" } });
    expect(await runCli(["--nodes", "n1,n3", "status"], io())).toBe(0);
    const [first, second] = lines();
    expect(first).toMatchObject({ node: "n1" });
    expect(second).toMatchObject({ node: "n3", error: { code: "STOPPING" } });
  });

  it("tail prints old and new entries until aborted", async () => {
    const { cluster, io, out } = harness();
    cluster.addGroup(2, ["n1"], "n1");
    cluster.appendDirect(2, "a");
    const stop = new AbortController();
    const running = runCli(["tail", "2", "--poll", "2"], io(stop.signal));
    while (out.length < 1) await new Promise((r) => setTimeout(r, 2));
    cluster.appendDirect(2, "b");
    while (out.length < 2) await new Promise((r) => setTimeout(r, 2));
    stop.abort();
    expect(await running).toBe(0);
    expect(out.map((l) => JSON.parse(l).text)).toEqual(["a", "b"]);
  });

  it("exits 1 with the error code when a call fails", async () => {
    const { io, err } = harness();
    expect(await runCli(["--timeout", "200", "read", "99"], io())).toBe(1);
    expect(err.join("")).toMatch(/^palfctl: UNKNOWN_GROUP: /);
  });

  it("exits 2 for a bad default from the environment", async () => {
    const { io, err } = harness({ PALF_NODES: "a b" });
    expect(await runCli(["status"], io())).toBe(2);
    expect(err.join("")).toMatch(/node ids match/);
  });
});

let nats: NatsServerProcess | undefined;
const hasNats = (() => {
  try {
    findNatsServer();
    return true;
  } catch {
    return false;
  }
})();

describe.runIf(hasNats)("palfctl over a real nats-server (spawned, fake nodes)", { timeout: 60_000 }, () => {
  let cluster: FakeCluster;
  beforeAll(async () => {
    nats = await startNatsServer();
    const transports = await Promise.all(
      ["n1", "n2", "n3"].map((nodeId) =>
        connectNatsTransport({ cluster: "e2e", nodeId, servers: nats!.url }),
      ),
    );
    cluster = new FakeCluster({ transports });
  });
  afterAll(async () => {
    await cluster?.close();
    await nats?.stop();
  });

  it("create-group, append and read as JSON lines", async () => {
    const flags = ["--nats", nats!.url, "--cluster", "e2e", "--nodes", "n1,n2,n3"];
    const created = await palfctl([...flags, "create-group", "3", "--members", "n2,n1,n3"]);
    expect(created.stderr).toBe("");
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout)).toMatchObject({ group: 3, nodes: ["n2", "n1", "n3"] });
    const appended = await palfctl([...flags, "append", "3", "one", "two"]);
    expect(appended.code).toBe(0);
    expect(
      appended.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l)),
    ).toEqual([
      { group: 3, lsn: 0, csn: 1, text: "one" },
      { group: 3, lsn: 19, csn: 2, text: "two" },
    ]);
    const read = await palfctl([...flags, "read", "3", "--from", "19"]);
    expect(read.code).toBe(0);
    expect(read.stdout).toBe(`${JSON.stringify({ group: 3, lsn: 19, csn: 2, text: "two" })}\n`);
  });
});
