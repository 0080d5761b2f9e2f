import { type Transport, TransportError } from "@palf/transport";
import { describe, expect, it } from "vitest";
import { PalfClient } from "./client.ts";
import { ManualRuntime, settle } from "./manual-runtime.test-support.ts";
import { PalfError } from "./palf-error.ts";

/** A transport on which no node ever serves: every request fails at once with noResponders. */
function deadCluster(): { transport: Transport; requests: () => number } {
  let requests = 0;
  const transport = {
    cluster: "palf",
    nodeId: "client-1",
    maxFrameBytes: 1 << 20,
    request: () => {
      requests++;
      return Promise.reject(new TransportError("noResponders", "nobody serves"));
    },
    subscribe: () => () => {},
    flush: () => Promise.resolve(),
    close: () => Promise.resolve(),
  } as unknown as Transport;
  return { transport, requests: () => requests };
}

describe("the client on a given runtime (clock, timers, randomness)", () => {
  it("sends, backs off and gives up only as the runtime's clock moves, never on its own", async () => {
    const rt = new ManualRuntime(0.999);
    const dead = deadCluster();
    const client = new PalfClient(dead.transport, {
      nodes: ["n1", "n2"],
      runtime: rt,
      appendTimeoutMs: 1000,
      maxAttempts: 1000,
      backoff: { initialMs: 100, maxMs: 100 },
    });
    let outcome: PalfError | undefined;
    client
      .group(1)
      .append("x")
      .catch((e: PalfError) => {
        outcome = e;
      });
    // The batch goes out at the end of the runtime's turn, not of Node's.
    await settle();
    expect(dead.requests()).toBe(0);
    await rt.turn();
    expect(dead.requests()).toBe(1);
    // Real time passing does nothing: the retry waits for the runtime's timer.
    await new Promise((r) => setTimeout(r, 150));
    expect(dead.requests()).toBe(1);
    await rt.advance(100);
    expect(dead.requests()).toBe(2);
    await rt.advance(850);
    expect(outcome).toBeUndefined();
    await rt.advance(200);
    expect(outcome).toBeInstanceOf(PalfError);
    // Nothing was ever served, so it was not appended: a plain error, not INDETERMINATE.
    expect(outcome!.code).not.toBe("INDETERMINATE");
    // One at virtual 0 ms and one every 100 ms after it, until the deadline at 1000 ms.
    expect(dead.requests()).toBe(10);
    await client.close();
  });

  it("draws its session id from the runtime's randomness", async () => {
    const client = new PalfClient(deadCluster().transport, {
      nodes: ["n1"],
      runtime: new ManualRuntime(0.5),
    });
    expect(client.sessionId).toBe(2 ** 47);
    await client.close();
  });
});
