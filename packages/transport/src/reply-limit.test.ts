import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type NatsServerProcess, startNatsServer } from "./nats-server-process.ts";
import { connectNatsTransport, type NatsTransport } from "./nats-transport.ts";
import { maxAppendItems } from "./reply-limit.ts";
import { decodeResponse, encodeRpc } from "./rpc-protocol.ts";

const quiet = () => {};

describe("RPC replies above the frame limit (real nats-server, default 1 MB max_payload)", {
  timeout: 60_000,
}, () => {
  let server: NatsServerProcess;
  let node: NatsTransport;
  let client: NatsTransport;

  beforeAll(async () => {
    server = await startNatsServer();
    node = await connectNatsTransport({ cluster: "r", nodeId: "n1", servers: server.url, log: quiet });
    client = await connectNatsTransport({ cluster: "r", nodeId: "c1", servers: server.url, log: quiet });
    // A handler that answers "big" with 2 MB (above the server's max_payload) and anything else with a small reply.
    node.serve((req) => {
      const big = Buffer.from(req).toString() === "big";
      return big ? Buffer.alloc(2 * 1024 * 1024, 1) : encodeRpc({ ok: true, op: "createGroup" });
    });
    await node.flush();
  });

  afterAll(async () => {
    await client?.close();
    await node?.close();
    await server?.stop();
  });

  it("answers a plain request whose reply is too large with TOO_LARGE, and keeps serving", async () => {
    const reply = decodeResponse(await client.request("n1", Buffer.from("big"), 10_000));
    expect(reply).toMatchObject({ ok: false, error: { code: "TOO_LARGE" } });
    const next = decodeResponse(await client.request("n1", Buffer.from("small"), 10_000));
    expect(next).toEqual({ ok: true, op: "createGroup" });
    expect(node.stats().repliesTooLarge).toBeGreaterThanOrEqual(1);
  });

  it("answers each bundled request (sent in one turn) with its own reply: TOO_LARGE for the big one only", async () => {
    const replies = await Promise.all(
      ["small", "big", "small", "big", "small"].map((s) => client.request("n1", Buffer.from(s), 10_000)),
    );
    const codes = replies.map((r) => {
      const d = decodeResponse(r);
      return d.ok ? "ok" : d.error.code;
    });
    expect(codes).toEqual(["ok", "TOO_LARGE", "ok", "TOO_LARGE", "ok"]);
  });

  it("bounds an append's items so its results fit one frame", () => {
    // 30,000 items (the defect's reply) is far above what one 900 KB reply can answer.
    expect(maxAppendItems(node.maxFrameBytes)).toBeLessThan(30_000);
    expect(maxAppendItems(node.maxFrameBytes)).toBeGreaterThanOrEqual(1024); // the SDK's default batch
  });
});
