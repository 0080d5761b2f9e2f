import { describe, expect, it } from "vitest";
import { decodeRequest, encodeRpc, type RpcRequest } from "./rpc-protocol.ts";

const decode = (v: unknown) => decodeRequest(encodeRpc(v as RpcRequest));

describe("membership RPC requests", () => {
  it("accepts every change type the core supports and a groups page", () => {
    for (const type of [
      "addMember",
      "removeMember",
      "addLearner",
      "removeLearner",
      "promoteLearner",
      "demoteMember",
    ])
      expect(decode({ op: "changeConfig", group: 7, change: { type, id: "n4" } })).toEqual({
        op: "changeConfig",
        group: 7,
        change: { type, id: "n4" },
      });
    expect(
      decode({ op: "changeConfig", group: 7, change: { type: "setReplicaNum", replicaNum: 5 }, waitMs: 100 }),
    ).toEqual({
      op: "changeConfig",
      group: 7,
      change: { type: "setReplicaNum", replicaNum: 5 },
      waitMs: 100,
    });
    expect(decode({ op: "groups", fromGroup: 3, limit: 10 })).toEqual({
      op: "groups",
      fromGroup: 3,
      limit: 10,
    });
  });

  it("refuses hostile input with a reason, dropping unknown fields", () => {
    const bad = [
      { op: "changeConfig", group: -1, change: { type: "addMember", id: "n4" } },
      { op: "changeConfig", group: 2 ** 32, change: { type: "addMember", id: "n4" } },
      { op: "changeConfig", group: 1, change: { type: "addMember", id: "n 4" } },
      { op: "changeConfig", group: 1, change: { type: "addMember" } },
      { op: "changeConfig", group: 1, change: { type: "dropAll", id: "n4" } },
      { op: "changeConfig", group: 1, change: { type: "setReplicaNum", replicaNum: 0 } },
      { op: "changeConfig", group: 1, change: { type: "setReplicaNum", replicaNum: 1.5 } },
      { op: "changeConfig", group: 1, change: null },
      { op: "changeConfig", group: 1, change: { type: "addMember", id: "n4" }, waitMs: 0 },
      { op: "groups", limit: 0 },
      { op: "groups", limit: 1_000_000 },
      { op: "groups", fromGroup: "x" },
    ];
    for (const b of bad) expect(decode(b), JSON.stringify(b)).toHaveProperty("bad");
    expect(
      decode({ op: "changeConfig", group: 1, change: { type: "addMember", id: "n4", extra: 1 } }),
    ).toEqual({
      op: "changeConfig",
      group: 1,
      change: { type: "addMember", id: "n4" },
    });
  });
});
