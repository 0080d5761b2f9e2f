import type { Message } from "@palf/core";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryBus, MemoryTransport } from "./memory-transport.ts";
import { encodeBatches } from "./peer-codec.ts";
import { peerSubjectParts } from "./peer-identity.ts";
import { peerSubject } from "./subjects.ts";
import type { Transport } from "./transport.ts";

const prepare = (from: string, pid: number): Message => ({
  type: "prepare",
  group: 3,
  inc: 0,
  from,
  to: "b",
  pid,
});
const quiet = () => {};
let open: Transport[] = [];
afterEach(async () => {
  await Promise.all(open.map((t) => t.close()));
  open = [];
});

describe("peer frames carry their sender in the subject; a message in another node's name is dropped", () => {
  it("parses shard and sender from a peer subject, and nothing from a subject without both", () => {
    expect(peerSubjectParts(peerSubject("c1", "b", 3, "a"))).toEqual({ shard: 3, from: "a" });
    expect(peerSubjectParts("palf.c1.node.b.3")).toBeUndefined();
    expect(peerSubjectParts("palf.c1.node.b.x.a")).toBeUndefined();
    expect(peerSubjectParts("palf.c1.node.b.3.a.b")).toBeUndefined();
  });

  it("keeps messages whose from is the subject's sender, drops and counts the forged ones", async () => {
    const bus = new MemoryBus();
    const b = new MemoryTransport({ bus, cluster: "c1", nodeId: "b", log: quiet });
    const a = new MemoryTransport({ bus, cluster: "c1", nodeId: "a", log: quiet });
    open.push(a, b);
    const got: Message[] = [];
    b.onMessages((_shard, ms) => got.push(...ms));
    // What an intruder publishes: a frame on a's peer subject whose messages claim to come from "c".
    const [forged] = encodeBatches([prepare("c", 2 ** 40), prepare("a", 5)]);
    bus.publish(peerSubject("c1", "b", 0, "a"), forged!);
    // A frame on a subject that names no sender (the old layout) is dropped whole.
    bus.publish("palf.c1.node.b.0", encodeBatches([prepare("a", 6)])[0]!);
    // The honest path: a sends in its own name.
    a.send("b", 0, [prepare("a", 7)]);
    await b.flush();
    expect(got.map((m) => [m.from, (m as { pid: number }).pid])).toEqual([
      ["a", 5],
      ["a", 7],
    ]);
    expect(b.stats().messagesForged).toBe(1);
  });

  it("serves admin requests on the admin subject and tells the handler which subject a request came on", async () => {
    const bus = new MemoryBus();
    const node = new MemoryTransport({ bus, cluster: "c1", nodeId: "n", log: quiet });
    const client = new MemoryTransport({ bus, cluster: "c1", nodeId: "k", log: quiet });
    open.push(node, client);
    node.serve((_req, via) => Buffer.from(via.admin ? "admin" : "rpc"));
    expect(Buffer.from(await client.request("n", Buffer.from("x"), 5000)).toString()).toBe("rpc");
    expect(Buffer.from(await client.request("n", Buffer.from("x"), 5000, { admin: true })).toString()).toBe(
      "admin",
    );
  });
});
