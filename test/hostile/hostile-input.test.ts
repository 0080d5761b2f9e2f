// The hostile-input suite: seeded fast-check generators of peer frames, RPC requests, bundles and events,
// well-formed and not, sent over a real nats-server to every node of a live 3-node cluster under load
// (no NATS accounts here, so everything reaches the nodes). Afterwards: every node alive, every group led
// and none halted, every request that had a reply subject answered with a clear code, and every
// acknowledged append (the load's and the hostile ones') readable and identical on every replica.
// Replay: the seed line printed first (PALF_FAULT_SEED=<seed> pnpm exec vitest run test/hostile/hostile-input.test.ts).
import type { Message } from "@palf/core";
import { CLUSTER, rpc } from "@palf/harness";
import {
  connectNatsTransport,
  decodeBundle,
  decodeResponse,
  encodeRpc,
  isAdminOp,
  isBundle,
  type NatsTransport,
  RPC_ERROR_CODES,
  type RpcResponse,
} from "@palf/transport";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import {
  AckLog,
  assertNothingLost,
  faultSuite,
  sleep,
  startLoad,
  verifyNothingLost,
  waitFor,
} from "../faults/fault-kit.test-support.ts";
import {
  extremeRequest,
  frameOf,
  garbageFrame,
  hostileEvent,
  malformedRequest,
  messagesAs,
} from "./hostile-input.test-support.ts";

const FILE = "test/hostile/hostile-input.test.ts";
const nodes = ["n1", "n2", "n3"];
const GROUPS = 20;
/** Groups no load uses: hostile creates, deletes and base moves land here. */
const scratch = fc.integer({ min: 5000, max: 5010 });
const CODES = new Set(RPC_ERROR_CODES);
/** How much of each class is sent (PALF_HOSTILE_SCALE=10 for a longer run; 3 keeps CI near a minute). */
const SCALE = Number(process.env.PALF_HOSTILE_SCALE ?? 3);
const suite = faultSuite(FILE, { nodes, groups: GROUPS, leaseMs: 1000, shards: 2 });
const attackers = new Map<string, NatsTransport>();

afterAll(async () => {
  for (const t of attackers.values()) await t.close().catch(() => {});
});

/** What was tried, per class and kind, and how it was answered. */
class Tally {
  readonly sent: Record<string, number> = {};
  readonly answers: Record<string, number> = {};
  readonly unclear: string[] = [];
  add(kind: string, n = 1): void {
    this.sent[kind] = (this.sent[kind] ?? 0) + n;
  }
  answered(res: RpcResponse, what: string): void {
    const key = res.ok ? "ok" : res.error?.code;
    if (!res.ok && !CODES.has(res.error?.code))
      this.unclear.push(`${what}: ${JSON.stringify(res).slice(0, 200)}`);
    this.answers[String(key)] = (this.answers[String(key)] ?? 0) + 1;
  }
}

describe("hostile input over a real nats-server to a live 3-node cluster under load", {
  timeout: 300_000,
}, () => {
  it("no input crashes a node, halts a group, goes unanswered, or loses an acknowledged append", async () => {
    suite.watchFailure();
    const fc0 = suite.cluster();
    const url = fc0.cluster.natsUrl;
    let seed = suite.rng.int(0, 2 ** 31 - 1);
    const sample = <T>(arb: fc.Arbitrary<T>, n: number): T[] => fc.sample(arb, { seed: seed++, numRuns: n });
    for (const id of [...nodes, "mallory"])
      attackers.set(
        id,
        await connectNatsTransport({ cluster: CLUSTER, nodeId: id, servers: url, log: () => {} }),
      );
    const as = (id: string) => attackers.get(id)!;
    const tally = new Tally();
    const acks = new AckLog();
    const client = await fc0.client();
    const load = startLoad(client, acks, { groups: GROUPS, loops: GROUPS, size: 100, phase: 1 });
    await waitFor("the load commits", () => acks.count >= 100, 30_000);
    const real = fc.constantFrom(...fc0.groups);

    // Peer frames. Forged sender: a node's token on the subject, messages naming another member.
    for (let i = 0; i < 30 * SCALE; i++) {
      const to = nodes[i % 3]!;
      const sender = nodes[(i + 1) % 3]!;
      const claimed = nodes[(i + 2) % 3]!;
      const ms = sample(messagesAs(real, fc.constant(claimed), [to]), 10);
      as(sender).send(to, i % 2, frameOf(ms));
      tally.add("peer: forged sender (messages)", ms.length);
      await sleep(2);
    }
    // Non-member: consistent sender, a node id that is no member of any group.
    const nonMember = messagesAs(real, fc.constant("mallory"), nodes);
    for (let i = 0; i < 30 * SCALE; i++) {
      const ms = sample(nonMember, 10);
      for (const to of nodes)
        as("mallory").send(to, i % 2, frameOf(ms.map((m) => ({ ...m, to }) as Message)));
      tally.add("peer: non-member sender (messages)", ms.length);
      await sleep(2);
    }
    // Unknown groups: a real member, consistent sender, groups this cluster does not host (up to 2^32 - 1).
    for (let i = 0; i < 30 * SCALE; i++) {
      const from = nodes[i % 3]!;
      const to = nodes[(i + 1) % 3]!;
      const ms = sample(
        messagesAs(fc.integer({ min: 100_000, max: 2 ** 32 - 1 }), fc.constant(from), [to]),
        10,
      );
      as(from).send(to, i % 2, frameOf(ms));
      tally.add("peer: unknown groups (messages)", ms.length);
      await sleep(2);
    }
    // Garbage frames (bit flips only of non-member frames: a flipped member frame would be a Byzantine node).
    const garbage = sample(garbageFrame(fc.array(nonMember, { minLength: 1, maxLength: 5 })), 300 * SCALE);
    for (const [i, g] of garbage.entries()) {
      as("mallory").send(nodes[i % 3]!, i % 2, g.bytes);
      tally.add(`peer: ${g.kind}`);
      if (i % 20 === 0) await sleep(2);
    }

    // Well-formed requests with extreme values, eight at a time (so they travel bundled), admin ones on
    // either subject.
    const requests = sample(extremeRequest(fc0.groups, nodes, scratch), 400 * SCALE);
    const flags = sample(fc.boolean(), 400 * SCALE);
    for (let i = 0; i < requests.length; i += 8) {
      await Promise.all(
        requests.slice(i, i + 8).map(async (req, j) => {
          const r = req as { op: string; group?: number; items?: Array<{ payload: Uint8Array }> };
          const node = nodes[(i + j) % 3]!;
          const admin = isAdminOp(r.op) && flags[i + j]!;
          tally.add(`rpc: ${r.op}${admin ? " (admin subject)" : ""}`);
          let res: RpcResponse;
          try {
            res = decodeResponse(
              await as("mallory").request(node, encodeRpc(req as never), 30_000, { admin }),
            );
          } catch (e) {
            tally.unclear.push(`${r.op} to ${node}: ${(e as Error).message}`);
            return;
          }
          tally.answered(res, `${r.op} to ${node}`);
          if (res.ok && res.op === "append")
            res.results.forEach((out, k) => {
              if ("lsn" in out) acks.add(r.group!, out.lsn, r.items![k]!.payload, "hostile append");
            });
        }),
      );
    }
    // Malformed requests and bundles, one per turn (each leaves as its own message).
    for (const m of sample(malformedRequest, 300 * SCALE)) {
      tally.add(`rpc: ${m.kind}`);
      let reply: Uint8Array;
      try {
        reply = await as("mallory").request(nodes[m.bytes.length % 3]!, m.bytes, 30_000);
      } catch (e) {
        tally.unclear.push(`${m.kind}: ${(e as Error).message}`);
        continue;
      }
      const items = isBundle(reply) ? decodeBundle(reply) : [{ id: 0, payload: reply }];
      if (typeof items === "string") tally.unclear.push(`${m.kind}: bad bundled reply ${items}`);
      else for (const it of items) tally.answered(decodeResponse(it.payload), m.kind);
    }
    // Events anyone may publish.
    for (const [i, e] of sample(hostileEvent, 200 * SCALE).entries()) {
      as("mallory").publish(e.topic, e.bytes);
      tally.add(`event: ${e.kind}`);
      if (i % 20 === 0) await sleep(2);
    }

    await waitFor("the load goes on after the hostile input", () => acks.count >= 400, 60_000);
    const loadResult = await load.stop();
    console.log(
      `[hostile] ${JSON.stringify({ sent: tally.sent, answers: tally.answers, load: loadResult.ackedTotal })}`,
    );

    expect(tally.unclear, "requests without a clear answer").toEqual([]);
    for (const n of nodes) {
      const p = fc0.cluster.procs.get(n)!;
      expect(p.exitCode, `${n} exited`).toBeNull();
      expect(p.signalCode, `${n} killed`).toBeNull();
    }
    await fc0.waitAllLed(nodes, 45_000);
    for (const g of fc0.groups)
      for (const n of nodes) {
        const s = await rpc(fc0.probe, n, { op: "status", group: g });
        if (!s.ok || s.op !== "status") throw new Error(`status of group ${g} on ${n}: ${JSON.stringify(s)}`);
        const st = s.status as { halted?: string; promisedPid: number };
        expect(st.halted, `group ${g} on ${n}`).toBeUndefined();
      }
    const status = await rpc(fc0.probe, "n1", { op: "status" });
    if (status.ok && status.op === "status")
      console.log(
        `[hostile] n1 transport ${JSON.stringify((status.status as { transport: unknown }).transport)}`,
      );
    assertNothingLost(
      await verifyNothingLost({ probe: fc0.probe, nodes, groups: fc0.groups, acks }),
      suite.replay,
    );
  });
});
