import type { Message } from "@palf/core";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryBus, MemoryTransport } from "./memory-transport.ts";
import { oneOfEach, pushOf, sentBy } from "./messages.test-support.ts";
import { livenessFirst } from "./peer-codec.ts";
import type { Logger, Transport } from "./transport.ts";

const commit = (from: string, to: string, committedEnd: number): Message => ({
  type: "commitInfo",
  group: 1,
  inc: 0,
  from,
  to,
  pid: 1,
  prevLsn: 0,
  prevPid: 0,
  committedEnd,
});

const logged: string[] = [];
const log: Logger = (_level, message) => logged.push(message);
let open: Transport[] = [];

function cluster(...ids: string[]): { bus: MemoryBus; nodes: MemoryTransport[] } {
  const bus = new MemoryBus();
  const nodes = ids.map((nodeId) => new MemoryTransport({ bus, cluster: "c1", nodeId, log }));
  open.push(...nodes);
  return { bus, nodes };
}

afterEach(async () => {
  await Promise.all(open.map((t) => t.close()));
  open = [];
  logged.length = 0;
});

describe("MemoryTransport", () => {
  it("delivers asynchronously, in order per link, to the right shard", async () => {
    const { bus, nodes } = cluster("a", "b", "c");
    const [a, b, c] = nodes as [MemoryTransport, MemoryTransport, MemoryTransport];
    const got: Array<[number, string, number]> = [];
    b.onMessages((shard, ms) => {
      for (const m of ms)
        got.push([shard, m.from, (m as Extract<Message, { type: "commitInfo" }>).committedEnd]);
    });
    for (let i = 0; i < 500; i++) {
      a.send("b", 3, [commit("a", "b", i)]);
      c.send("b", i % 2, [commit("c", "b", i)]);
    }
    expect(got).toEqual([]); // nothing runs inside send
    await bus.settled();
    const fromA = got.filter(([, from]) => from === "a");
    const fromC = got.filter(([, from]) => from === "c");
    expect(fromA.map(([shard, , n]) => [shard, n])).toEqual(Array.from({ length: 500 }, (_, i) => [3, i]));
    expect(fromC.map(([shard, , n]) => [shard, n])).toEqual(
      Array.from({ length: 500 }, (_, i) => [i % 2, i]),
    );
    expect(b.stats()).toMatchObject({ framesReceived: 1000, messagesReceived: 1000, framesRejected: 0 });
    expect(a.stats()).toMatchObject({ framesSent: 500, sendErrors: 0 });
  });

  it("carries every message type, raw frames, and batches cut into several frames", async () => {
    const { bus, nodes } = cluster("a", "b");
    const [a, b] = nodes as [MemoryTransport, MemoryTransport];
    const messages: Message[] = [];
    const frames: Uint8Array[] = [];
    b.onMessages((_shard, ms) => messages.push(...ms));
    b.onFrame((_shard, f) => frames.push(f));
    const each = sentBy("a", oneOfEach);
    a.send("b", 0, each);
    const big = sentBy(
      "a",
      Array.from({ length: 4000 }, (_, g) => pushOf(g, 1, 256)),
    );
    a.send("b", 0, big);
    await bus.settled();
    expect(frames.length).toBeGreaterThan(2);
    expect(messages.slice(0, oneOfEach.length)).toEqual(livenessFirst(each));
    expect(messages.slice(oneOfEach.length).map((m) => m.group)).toEqual(big.map((m) => m.group));
  });

  it("counts and logs a malformed frame and keeps delivering", async () => {
    const { bus, nodes } = cluster("a", "b");
    const [a, b] = nodes as [MemoryTransport, MemoryTransport];
    const got: Message[] = [];
    b.onMessages((_s, ms) => got.push(...ms));
    a.send("b", 1, Buffer.from("definitely not a frame"));
    a.send("b", 1, [commit("a", "b", 5)]);
    await bus.settled();
    expect(got).toHaveLength(1);
    expect(b.stats()).toMatchObject({ framesReceived: 2, framesRejected: 1, messagesReceived: 1 });
    expect(logged.some((l) => l.includes("dropped bad peer input"))).toBe(true);
  });

  it("keeps delivering when a handler throws", async () => {
    const { bus, nodes } = cluster("a", "b");
    const [a, b] = nodes as [MemoryTransport, MemoryTransport];
    let calls = 0;
    b.onMessages(() => {
      calls++;
      throw new Error("boom");
    });
    a.send("b", 0, [commit("a", "b", 1)]);
    a.send("b", 0, [commit("a", "b", 2)]);
    await bus.settled();
    expect(calls).toBe(2);
    expect(b.stats().handlerErrors).toBe(2);
  });

  it("answers RPCs, and fails them with noResponders, timeout, closed", async () => {
    const { nodes } = cluster("a", "b");
    const [a, b] = nodes as [MemoryTransport, MemoryTransport];
    b.serve(async (req) => Buffer.concat([Buffer.from("echo:"), req]));
    expect(Buffer.from(await a.request("b", Buffer.from("hi"), 10_000)).toString()).toBe("echo:hi");
    await expect(a.request("nobody", Buffer.from("x"), 10_000)).rejects.toMatchObject({
      code: "noResponders",
    });
    a.serve(() => new Promise<Uint8Array>(() => {}));
    await expect(b.request("a", Buffer.from("x"), 20)).rejects.toMatchObject({ code: "timeout" });
    const pending = b.request("a", Buffer.from("x"), 60_000);
    await b.close();
    await expect(pending).rejects.toMatchObject({ code: "closed" });
  });

  it("publishes gts and events to matching subscribers", async () => {
    const { bus, nodes } = cluster("a", "b");
    const [a, b] = nodes as [MemoryTransport, MemoryTransport];
    const got: string[] = [];
    b.subscribe("events.*", (topic, p) => got.push(`${topic}=${Buffer.from(p)}`));
    b.subscribe("gts", (topic, p) => got.push(`${topic}=${Buffer.from(p)}`));
    a.publish("events.leader", Buffer.from("g1"));
    a.publish("events.watermark", Buffer.from("w"));
    a.publish("gts", Buffer.from("t"));
    await bus.settled();
    expect(got).toEqual(["events.leader=g1", "events.watermark=w", "gts=t"]);
    expect(() => a.publish("events.*", Buffer.alloc(0))).toThrow(/topic/);
  });

  it("refuses ids that would change subjects", () => {
    const bus = new MemoryBus();
    expect(() => new MemoryTransport({ bus, cluster: "c1", nodeId: "a.b" })).toThrow(/node id/);
    expect(() => new MemoryTransport({ bus, cluster: "c*", nodeId: "a" })).toThrow(/cluster/);
  });
});
