import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import type { Message } from "@palf/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { oneOfEach, pushOf, sentBy, waitFor } from "./messages.test-support.ts";
import { type NatsServerProcess, startNatsServer } from "./nats-server-process.ts";
import { connectNatsTransport, type NatsTransport, type NatsTransportOptions } from "./nats-transport.ts";
import { livenessFirst } from "./peer-codec.ts";
import type { Logger, TransportStatus } from "./transport.ts";

const commit = (committedEnd: number): Message => ({
  type: "commitInfo",
  group: 1,
  inc: 0,
  from: "a",
  to: "b",
  pid: 1,
  prevLsn: 0,
  prevPid: 0,
  committedEnd,
});

const logged: string[] = [];
const log: Logger = (_level, message) => logged.push(message);
const opened: NatsTransport[] = [];

async function node(server: NatsServerProcess, nodeId: string, extra: Partial<NatsTransportOptions> = {}) {
  const t = await connectNatsTransport({ cluster: "t1", nodeId, servers: server.url, log, ...extra });
  opened.push(t);
  return t;
}

describe("NatsTransport on a real nats-server", { timeout: 60_000 }, () => {
  let server: NatsServerProcess;
  let a: NatsTransport;
  let b: NatsTransport;
  let c: NatsTransport;

  beforeAll(async () => {
    server = await startNatsServer();
    [a, b, c] = await Promise.all([node(server, "a"), node(server, "b"), node(server, "c")]);
  });

  afterAll(async () => {
    await Promise.all(opened.map((t) => t.close()));
    await server?.stop();
  });

  it("keeps the default frame limit, which is below the server's default max_payload", () => {
    expect(a.maxFrameBytes).toBe(900 * 1024);
  });

  it("delivers peer frames to the right node and shard, in order", async () => {
    const got: Array<[number, number]> = [];
    const gotByC: Message[] = [];
    const offB = b.onMessages((shard, ms) => {
      for (const m of ms) got.push([shard, (m as Extract<Message, { type: "commitInfo" }>).committedEnd]);
    });
    const offC = c.onMessages((_s, ms) => gotByC.push(...ms));
    for (let i = 0; i < 300; i++) a.send("b", i % 3 === 0 ? 7 : 2, [commit(i)]);
    await waitFor(() => got.length === 300, "300 frames at b");
    expect(got).toEqual(Array.from({ length: 300 }, (_, i) => [i % 3 === 0 ? 7 : 2, i]));
    expect(gotByC).toEqual([]);
    offB();
    offC();
  });

  it("carries every message type and a batch cut into several frames", async () => {
    const got: Message[] = [];
    const off = b.onMessages((_s, ms) => got.push(...ms));
    const big = sentBy(
      "a",
      Array.from({ length: 4000 }, (_, g) => pushOf(g, 1, 256)),
    );
    const each = sentBy("a", oneOfEach);
    const before = a.stats().framesSent;
    await a.sendAll([
      { toNode: "b", shard: 0, frameOrMessages: each },
      { toNode: "b", shard: 1, frameOrMessages: big },
    ]);
    expect(a.stats().framesSent - before).toBeGreaterThan(2);
    await waitFor(() => got.length === oneOfEach.length + big.length, "every message at b");
    expect(got.slice(0, oneOfEach.length)).toEqual(livenessFirst(each));
    expect(got.slice(oneOfEach.length).map((m) => m.group)).toEqual(big.map((m) => m.group));
    off();
  });

  it("rejects and counts a malformed frame on a peer subject, and keeps going", async () => {
    const got: Message[] = [];
    const off = b.onMessages((_s, ms) => got.push(...ms));
    const before = b.stats();
    // A raw client, as a misbehaving peer or a stray publisher would be.
    const raw = await connect({ servers: server.url });
    raw.publish("palf.t1.node.b.4.a", Buffer.from([1, 0, 0, 0, 9, 0xff]));
    raw.publish("palf.t1.node.b.4.a", Buffer.from("garbage"));
    raw.publish("palf.t1.node.b.x.a", Buffer.from("not a shard"));
    await raw.flush();
    await raw.close();
    a.send("b", 4, [commit(1)]);
    await waitFor(() => got.length === 1, "the good frame after the bad ones");
    expect(b.stats().framesRejected - before.framesRejected).toBe(3);
    expect(logged.some((l) => l.includes("dropped"))).toBe(true);
    off();
  });

  it("answers RPCs with request/reply and reports noResponders and timeouts", async () => {
    const off = b.serve((req) => Buffer.concat([Buffer.from("echo:"), req]));
    await b.flush();
    expect(Buffer.from(await a.request("b", Buffer.from("hi"), 10_000)).toString()).toBe("echo:hi");
    await expect(a.request("nobody", Buffer.from("x"), 10_000)).rejects.toMatchObject({
      code: "noResponders",
    });
    const offC = c.serve(() => new Promise<Uint8Array>(() => {}));
    await c.flush();
    await expect(a.request("c", Buffer.from("x"), 50)).rejects.toMatchObject({ code: "timeout" });
    off();
    offC();
  });

  it("bundles the requests of one turn into one message per node, and each gets its own answer", async () => {
    // Answers settle out of order (odd ones later); every request still gets exactly its own reply.
    const off = b.serve(async (req) => {
      const n = Number(Buffer.from(req).toString());
      if (n % 2 === 1) await new Promise((r) => setTimeout(r, 5));
      return Buffer.from(`r${n}`);
    });
    await b.flush();
    const answers = await Promise.all(
      Array.from({ length: 50 }, (_, i) => a.request("b", Buffer.from(String(i)), 10_000)),
    );
    expect(answers.map((x) => Buffer.from(x).toString())).toEqual(
      Array.from({ length: 50 }, (_, i) => `r${i}`),
    );
    // Several requests to a node nobody serves all fail as noResponders, even bundled.
    const missing = await Promise.allSettled([
      a.request("nobody", Buffer.from("1"), 10_000),
      a.request("nobody", Buffer.from("2"), 10_000),
    ]);
    for (const m of missing)
      expect(m.status === "rejected" && (m.reason as { code: string }).code).toBe("noResponders");
    off();
  });

  it("cuts a turn's bundled requests and replies below the frame limit", async () => {
    // Four 400 KiB requests and four 400 KiB replies in one turn: one bundle each way would pass the
    // server's 1 MB max_payload and be refused whole, and every request in it would time out.
    const big = 400 * 1024;
    const off = b.serve((req) => Buffer.alloc(big, req[0]));
    await b.flush();
    const answers = await Promise.all([1, 2, 3, 4].map((i) => a.request("b", Buffer.alloc(big, i), 10_000)));
    expect(answers.map((x) => [x.length, x[0], x[big - 1]])).toEqual([1, 2, 3, 4].map((i) => [big, i, i]));
    off();
  });

  it("publishes gts and events topics", async () => {
    const got: string[] = [];
    const off1 = b.subscribe("events.>", (topic, p) => got.push(`${topic}=${Buffer.from(p)}`));
    const off2 = b.subscribe("gts", (topic, p) => got.push(`${topic}=${Buffer.from(p)}`));
    await b.flush();
    a.publish("events.leader", Buffer.from("g1"));
    a.publish("gts", Buffer.from("t"));
    await waitFor(() => got.length === 2, "two topic messages");
    expect(got.sort()).toEqual(["events.leader=g1", "gts=t"]);
    off1();
    off2();
  });
});

describe("NatsTransport connection handling", { timeout: 60_000 }, () => {
  it("reports disconnect and reconnect, and delivers again after the server restarts on its port", async () => {
    let server = await startNatsServer();
    try {
      const opts = { connection: { reconnectTimeWait: 50, reconnectJitter: 10 } };
      const [a, b] = await Promise.all([node(server, "a", opts), node(server, "b", opts)]);
      const statuses = { a: [] as TransportStatus["type"][], b: [] as TransportStatus["type"][] };
      a.onStatus((s) => statuses.a.push(s.type));
      b.onStatus((s) => statuses.b.push(s.type));
      const got: number[] = [];
      b.onMessages((_s, ms) => {
        for (const m of ms) got.push((m as Extract<Message, { type: "commitInfo" }>).committedEnd);
      });
      a.send("b", 0, [commit(1)]);
      await waitFor(() => got.length === 1, "delivery before the restart");

      const port = server.port;
      await server.stop();
      await waitFor(
        () => statuses.a.includes("disconnect") && statuses.b.includes("disconnect"),
        "disconnects",
      );
      server = await startNatsServer({ port });
      await waitFor(() => statuses.a.includes("reconnect") && statuses.b.includes("reconnect"), "reconnects");
      // The client re-subscribes first thing after reconnecting; flush makes sure the server has it.
      await b.flush();
      a.send("b", 0, [commit(2)]);
      await waitFor(() => got.includes(2), "delivery after the restart");
      expect(got[0]).toBe(1);
      await Promise.all([a.close(), b.close()]);
    } finally {
      await server.stop();
    }
  });

  it("cuts frames below a server's smaller max_payload", async () => {
    const dir = mkdtempSync(join(tmpdir(), "palf-nats-"));
    const config = join(dir, "small.conf");
    writeFileSync(config, "max_payload: 65536\n");
    const server = await startNatsServer({ args: ["-c", config] });
    try {
      const [a, b] = await Promise.all([node(server, "a"), node(server, "b")]);
      expect(a.maxFrameBytes).toBe(65536);
      expect(logged.some((l) => l.includes("lowered to the server's max_payload"))).toBe(true);
      let count = 0;
      b.onMessages((_s, ms) => {
        count += ms.length;
      });
      a.send(
        "b",
        0,
        sentBy(
          "a",
          Array.from({ length: 1000 }, (_, g) => pushOf(g, 1, 256)),
        ),
      );
      await waitFor(() => count === 1000, "1000 pushes in 64 KB frames");
      expect(a.stats()).toMatchObject({ sendErrors: 0 });
      expect(a.stats().framesSent).toBeGreaterThan(3);
      await Promise.all([a.close(), b.close()]);
    } finally {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("passes credentials through to the connection", async () => {
    const server = await startNatsServer({ args: ["--user", "palf", "--pass", "s3cret"] });
    try {
      const ok = await node(server, "a", { connection: { user: "palf", pass: "s3cret" } });
      await ok.flush();
      await ok.close();
      await expect(
        connectNatsTransport({
          cluster: "t1",
          nodeId: "z",
          servers: server.url,
          log,
          connection: { user: "palf", pass: "wrong", maxReconnectAttempts: 0 },
        }),
      ).rejects.toThrow();
    } finally {
      await server.stop();
    }
  });
});
