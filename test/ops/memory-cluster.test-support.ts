// Test support for test/ops: real PalfNodes (real WALs in a temp dir) on one in-memory bus, with a client,
// and a poll-until helper. Everything started is stopped and removed by `close()`.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type PalfClient } from "@palf/client";
import { PalfNode, type PalfNodeOptions } from "@palf/node";
import { MemoryBus, MemoryTransport } from "@palf/transport";
import pino from "pino";

const log = pino({ level: "silent" });
const fastLease = {
  lease: { leaseMs: 600, renewMs: 100, electionJitterMs: 100, voteWindowMs: 30 },
  retransmitMs: 100,
};

type NodeExtras = Partial<Omit<PalfNodeOptions, "nodeId" | "dataDir" | "transport" | "log">>;

export interface MemoryCluster {
  /** The bus every node and the client are on (a test may attach a client of its own). */
  readonly bus: MemoryBus;
  readonly nodes: Map<string, PalfNode>;
  readonly client: PalfClient;
  readonly dir: string;
  /** Starts (or starts again, from its data dir) one node. */
  start(id: string): Promise<PalfNode>;
  close(): Promise<void>;
}

export async function startMemoryCluster(
  ids: readonly string[],
  extras: NodeExtras = {},
): Promise<MemoryCluster> {
  const bus = new MemoryBus();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-ops-"));
  const nodes = new Map<string, PalfNode>();
  const started: PalfNode[] = [];
  const start = async (id: string) => {
    const node = await PalfNode.start({
      nodeId: id,
      dataDir: path.join(dir, id),
      transport: new MemoryTransport({ bus, cluster: "t", nodeId: id }),
      log,
      shards: 2,
      ...extras,
      replica: { ...fastLease, ...extras.replica },
    });
    nodes.set(id, node);
    started.push(node);
    return node;
  };
  for (const id of ids) await start(id);
  const client = await connect({
    cluster: "t",
    nodes: [...ids],
    transport: new MemoryTransport({ bus, cluster: "t", nodeId: "client" }),
    operationTimeoutMs: 30_000,
    requestTimeoutMs: 3_000,
  });
  return {
    bus,
    nodes,
    client,
    dir,
    start,
    close: async () => {
      await client.close();
      for (const n of started) await n.stop({ transferMs: 0 }).catch(() => {});
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `cond` until it holds; fails naming `what` after `ms`. */
export async function waitFor(what: string, cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
