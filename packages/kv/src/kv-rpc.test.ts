import { MemoryBus, MemoryTransport } from "@palf/transport";
import { describe, expect, it } from "vitest";
import { appendFailed, KvAppendFailure } from "./kv-cluster.ts";
import { KvError } from "./kv-error.ts";
import { encodeRecord } from "./kv-record.ts";
import { checkRequest, RemoteKvService, serveKv } from "./kv-rpc.ts";
import type { KvService } from "./kv-service.ts";
import type { TxnView } from "./partition-state.ts";

function preparedView(txnId: string, prepareVersion: number): TxnView {
  return {
    txnId,
    state: "prepared",
    prepareVersion,
    snapshot: 1,
    primary: 0,
    participants: [0],
    commitVersion: 0,
    reason: "none",
    at: 5,
  };
}

describe("store server protocol", () => {
  it("refuses malformed requests with BAD_REQUEST", () => {
    for (const bad of [
      null,
      5,
      { op: "nope" },
      { op: "read", partition: -1, key: "a", snapshot: 1 },
      { op: "outcome", partition: 0, txnId: 3, lsn: 0 },
      { op: "reads", items: [] },
      { op: "reads", items: [{ op: "status" }] },
      { op: "appends", items: [{ op: "read", partition: 0, key: "a", snapshot: 1 }] },
      { op: "append", partition: 0, payload: new Uint8Array([9, 9, 9]), refCsn: 1, txnId: "t" },
    ])
      expect(() => checkRequest(bad)).toThrow(KvError);
    expect(checkRequest({ op: "read", partition: 1, key: "a", snapshot: 9 })).toEqual({
      op: "read",
      partition: 1,
      key: "a",
      snapshot: 9,
    });
  });

  it("answers reads and outcomes over a transport and carries typed errors back", async () => {
    const bus = new MemoryBus();
    const server = new MemoryTransport({ bus, cluster: "c", nodeId: "kv1" });
    const client = new MemoryTransport({ bus, cluster: "c", nodeId: "cli" });
    const service: KvService = {
      read: async (p, key, s) => {
        if (key === "old") throw new KvError("SNAPSHOT_TOO_OLD", "too old");
        return { value: `${p}:${key}@${s}`, version: 3 };
      },
      readIfUnlocked: async (p, key, s) => {
        if (key === "locked") return undefined;
        if (key === "old") throw new KvError("SNAPSHOT_TOO_OLD", "too old");
        return { value: `${p}:${key}@${s}`, version: 3 };
      },
      scan: async () => [{ key: "a", value: new Uint8Array([1]), version: 2 }],
      outcome: async () => undefined,
      appendOutcome: async (p, payload, refCsn, txnId) => {
        if (p === 9) throw new KvAppendFailure("FAILED", "not leader any more");
        if (p === 8) throw new KvAppendFailure("INDETERMINATE", "timed out");
        return { lsn: payload.length, csn: refCsn, txn: preparedView(txnId, refCsn) };
      },
      close: async () => {},
    };
    serveKv(server, service, () => ({ up: true }), 4);
    const remote = new RemoteKvService(client, { servers: ["kv1"] });
    expect(await remote.read(2, "x", 7)).toEqual({ value: "2:x@7", version: 3 });
    expect(await remote.scan(0, "", undefined, 1, 10)).toEqual([
      { key: "a", value: new Uint8Array([1]), version: 2 },
    ]);
    expect(await remote.outcome(0, "t", 0)).toBeUndefined();
    expect(await remote.status("kv1")).toEqual({ up: true });
    await expect(remote.read(0, "old", 1)).rejects.toMatchObject({ code: "SNAPSHOT_TOO_OLD" });
    const stale = new RemoteKvService(client, { servers: ["kv1"], mapVersion: 3 });
    await expect(stale.read(0, "x", 1)).rejects.toMatchObject({
      code: "BAD_REQUEST",
      message: /map version 3/,
    });
    const current = new RemoteKvService(client, { servers: ["kv1"], mapVersion: 4 });
    expect(await current.read(0, "x", 1)).toMatchObject({ version: 3 });

    // An append through the server answers its position and outcome; whether a failed one may still be in
    // the log comes back as the append's code (only FAILED says it never will be).
    const abort = encodeRecord({ type: "abort", txnId: "t1" });
    expect(await current.appendOutcome(0, abort, 42, "t1")).toEqual({
      lsn: abort.length,
      csn: 42,
      txn: preparedView("t1", 42),
    });
    await expect(current.appendOutcome(9, abort, 1, "t1")).rejects.toSatisfy(appendFailed);
    const unknown = await current.appendOutcome(8, abort, 1, "t1").catch((e: unknown) => e);
    expect(appendFailed(unknown)).toBe(false);
    // Reads made in one turn travel in one request; one that met a lock is asked again on its own (that
    // read waits for the lock), and a typed error still reaches its caller.
    let sent = current.stats.requests;
    const reads = await Promise.allSettled([
      current.read(0, "x", 5),
      current.read(1, "locked", 6),
      current.read(2, "old", 7),
    ]);
    expect(current.stats.requests - sent).toBe(2);
    expect(reads.map((r) => (r.status === "fulfilled" ? r.value.value : (r.reason as KvError).code))).toEqual(
      ["0:x@5", "1:locked@6", "SNAPSHOT_TOO_OLD"],
    );

    // Appends made in one turn travel to their server in one request; each gets its own answer.
    sent = current.stats.requests;
    const batch = await Promise.allSettled([
      current.appendOutcome(0, abort, 10, "b0"),
      current.appendOutcome(9, abort, 11, "b1"),
      current.appendOutcome(8, abort, 12, "b2"),
      current.appendOutcome(0, abort, 13, "b3"),
    ]);
    expect(current.stats.requests - sent).toBe(1);
    expect(
      batch.map((b) => (b.status === "fulfilled" ? b.value.txn?.txnId : appendFailed(b.reason))),
    ).toEqual(["b0", true, false, "b3"]);
    // A request that reached no server at all goes to the next one (it cannot have been appended).
    const firstGone = new RemoteKvService(client, { servers: ["gone", "kv1"], mapVersion: 4 });
    expect(await firstGone.appendOutcome(0, abort, 42, "t1")).toMatchObject({ csn: 42 });
    const allGone = new RemoteKvService(client, { servers: ["gone"] });
    await expect(allGone.appendOutcome(0, abort, 42, "t1")).rejects.toSatisfy(appendFailed);
    // A server never appends bytes that are not a kv record on a caller's behalf.
    await expect(current.appendOutcome(0, new Uint8Array([1, 2, 3]), 1, "t1")).rejects.toMatchObject({
      message: /not a kv record/,
    });
    expect(
      appendFailed(await current.appendOutcome(0, new Uint8Array([1, 2, 3]), 1, "t1").catch((e) => e)),
    ).toBe(true);
  });
});
