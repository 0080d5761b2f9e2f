import { connect, type PalfClient } from "@palf/client";
import {
  cdcCursorPosition,
  createStore,
  DEFAULT_CATALOG_GROUP,
  type Kv,
  KvError,
  type KvValue,
  openKv,
  palfKvCluster,
  type ReadFence,
  RemoteKvService,
  readFenceKinds,
  readPartitionMap,
  type TxnCdcCheckpoint,
} from "@palf/kv";
import { connectNatsTransport, type Transport } from "@palf/transport";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { KvServer } from "./kv-server.ts";

/** Where the CLI writes; tests replace it. */
export interface KvCliIo {
  readonly out: (line: string) => void;
  readonly err: (text: string) => void;
  readonly signal?: AbortSignal;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

interface Globals {
  nats: string;
  cluster: string;
  nodes: string;
  servers?: string;
  catalog: number;
  readFence: ReadFence;
}

const nat = (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError("must be a natural number");
  return n;
};
const list = (s: string) =>
  s
    .split(",")
    .map((x) => x.trim())
    .filter((x) => x !== "");

/** A value for JSON output: strings as they are, bytes as base64. */
export function jsonValue(v: KvValue | null): unknown {
  return v === null || typeof v === "string" ? v : { base64: Buffer.from(v).toString("base64") };
}

/** Runs palfkv with `argv` (no node/script); resolves with the exit code (0 ok, 1 runtime error, 2 usage). */
export async function runKvCli(argv: readonly string[], io: KvCliIo): Promise<number> {
  const env = io.env ?? process.env;
  const print = (v: unknown) => io.out(JSON.stringify(v));
  let code = 0;
  const program = new Command("palfkv")
    .description("The palf transactional store: its server (serve) and a client CLI printing JSON lines.")
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, "")), writeErr: (s) => io.err(s) })
    .option(
      "--nats <urls>",
      "NATS server URL(s), comma-separated (or PALF_NATS)",
      env.PALF_NATS || "nats://127.0.0.1:4222",
    )
    .option("--cluster <name>", "cluster name (or PALF_CLUSTER)", env.PALF_CLUSTER || "palf")
    .option("--nodes <ids>", "palfd node ids (or PALF_NODES)", env.PALF_NODES || "n1,n2,n3")
    .option(
      "--servers <ids>",
      "store server ids to read through (or PALFKV_SERVERS); none: replay in this process",
      env.PALFKV_SERVERS,
    )
    .option("--catalog <group>", "catalog group id", nat, DEFAULT_CATALOG_GROUP)
    .addOption(
      new Option("--read-fence <how>", "how reads learn the log is complete up to their snapshot")
        .choices(readFenceKinds)
        .default("leader"),
    );
  const g = () => program.opts<Globals>();

  /** Runs `fn` with a client and a store handle, closing both. */
  const withKv = async (fn: (kv: Kv, client: PalfClient) => Promise<void>) => {
    const o = g();
    let transport: Transport | undefined;
    const client = await connect({ cluster: o.cluster, nodes: list(o.nodes), servers: list(o.nats) });
    try {
      const map = await readPartitionMap(client, o.catalog);
      const servers = o.servers === undefined ? [] : list(o.servers);
      let service: RemoteKvService | undefined;
      if (servers.length > 0) {
        transport = await connectNatsTransport({
          cluster: o.cluster,
          nodeId: `kvcli-${process.pid}`,
          servers: list(o.nats),
        });
        service = new RemoteKvService(transport, { servers, mapVersion: map.version });
      }
      const kv = await openKv({
        cluster: palfKvCluster(client),
        map,
        ...(service === undefined ? {} : { service }),
        host: { readFence: o.readFence, resolveEveryMs: 0 },
      });
      try {
        await fn(kv, client);
      } finally {
        await kv.close();
      }
    } finally {
      await client.close();
      await transport?.close();
    }
  };

  program
    .command("serve")
    .description(
      "run a store server: replay every partition, answer reads and outcomes, resolve locks, checkpoint",
    )
    .requiredOption("--id <id>", "this server's id on NATS")
    .requiredOption("--data <dir>", "checkpoint directory")
    .option("--checkpoint-ms <ms>", "checkpoint interval", nat, 5000)
    .option("--lock-timeout-ms <ms>", "abort an undecided lock this old", nat, 2000)
    .option(
      "--recycle",
      "let PALF drop each partition's log below the lowest checkpoint of this server and its --peers, never past a registered cursor",
    )
    .option("--peers <ids>", "the other store servers (their checkpoints hold recycling back)")
    .action(
      async (c: {
        id: string;
        data: string;
        checkpointMs: number;
        lockTimeoutMs: number;
        recycle?: boolean;
        peers?: string;
      }) => {
        const o = g();
        const server = new KvServer({
          id: c.id,
          cluster: o.cluster,
          nats: list(o.nats),
          nodes: list(o.nodes),
          dataDir: c.data,
          catalogGroup: o.catalog,
          checkpointEveryMs: c.checkpointMs,
          recycle: c.recycle === true,
          peers: c.peers === undefined ? [] : list(c.peers),
          host: { readFence: o.readFence, lockTimeoutMs: c.lockTimeoutMs },
        });
        await server.start();
        await new Promise<void>((resolve) => {
          if (io.signal?.aborted) resolve();
          io.signal?.addEventListener("abort", () => resolve(), { once: true });
        });
        await server.checkpoint().catch(() => undefined);
        await server.stop();
      },
    );

  program
    .command("init")
    .description("create the store: the catalog group, one group per partition, partition map version 1")
    .requiredOption("--partitions <n>", "number of partitions", nat)
    .option("--first-group <id>", "group id of partition 0 (default catalog + 1)", nat)
    .action(async (c: { partitions: number; firstGroup?: number }) => {
      const o = g();
      const client = await connect({ cluster: o.cluster, nodes: list(o.nodes), servers: list(o.nats) });
      try {
        await client.createGroup(0, list(o.nodes));
        const map = await createStore(client, {
          nodes: list(o.nodes),
          partitions: c.partitions,
          catalogGroup: o.catalog,
          ...(c.firstGroup === undefined ? {} : { firstGroup: c.firstGroup }),
        });
        print({ ok: true, map });
      } finally {
        await client.close();
      }
    });

  program
    .command("get <key>")
    .option("--snapshot <ts>", "read at this GTS timestamp", nat)
    .action((key: string, c: { snapshot?: number }) =>
      withKv(async (kv) => {
        const value = await kv.get(key, c.snapshot === undefined ? {} : { snapshot: c.snapshot });
        print({ key, value: jsonValue(value) });
      }),
    );

  program.command("put <key> <value>").action((key: string, value: string) =>
    withKv(async (kv) => {
      print({ key, commitVersion: await kv.put(key, value) });
    }),
  );

  program.command("del <key>").action((key: string) =>
    withKv(async (kv) => {
      print({ key, deleted: true, commitVersion: await kv.delete(key) });
    }),
  );

  program
    .command("scan")
    .option("--prefix <p>", "keys starting with p")
    .option("--start <key>", "first key (inclusive)")
    .option("--end <key>", "last key (exclusive)")
    .option("--limit <n>", "at most n keys", nat, 1000)
    .option("--snapshot <ts>", "read at this GTS timestamp", nat)
    .action((c: { prefix?: string; start?: string; end?: string; limit: number; snapshot?: number }) =>
      withKv(async (kv) => {
        const range =
          c.prefix !== undefined
            ? { prefix: c.prefix }
            : { start: c.start ?? "", ...(c.end === undefined ? {} : { end: c.end }) };
        const items = await kv.scan(range, {
          limit: c.limit,
          ...(c.snapshot === undefined ? {} : { snapshot: c.snapshot }),
        });
        for (const i of items) print({ key: i.key, value: jsonValue(i.value) });
      }),
    );

  program
    .command("txn <ops>")
    .description(`one transaction from a JSON list: [["get","a"],["put","b","1"],["del","c"]]`)
    .action((ops: string) =>
      withKv(async (kv) => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(ops);
        } catch {
          throw new KvError("BAD_REQUEST", "txn: ops must be a JSON list");
        }
        if (!Array.isArray(parsed) || !parsed.every((op) => Array.isArray(op) && typeof op[0] === "string"))
          throw new KvError(
            "BAD_REQUEST",
            `txn: ops must look like [["get","a"],["put","b","1"],["del","c"]]`,
          );
        const r = await kv.transact(async (tx) => {
          const reads: Record<string, unknown> = {};
          for (const [op, key, value] of parsed as Array<[string, string, string?]>) {
            if (op === "get") reads[key] = jsonValue(await tx.get(key));
            else if (op === "put") tx.put(key, String(value ?? ""));
            else if (op === "del") tx.delete(key);
            else throw new KvError("BAD_REQUEST", `txn: unknown op ${op}`);
          }
          return reads;
        });
        print({
          txnId: r.txnId,
          snapshot: r.snapshot,
          commitVersion: r.commitVersion ?? null,
          attempts: r.attempts,
          reads: r.value,
        });
      }),
    );

  program
    .command("changes")
    .description(
      "committed transactions in commit-version order, one JSON line each; a checkpoint line at the end",
    )
    .option("--from <checkpoint>", "resume after this checkpoint (the JSON printed by an earlier run)")
    .option("--limit <n>", "stop after n transactions", nat)
    .option(
      "--cursor <name>",
      "save the final checkpoint as this reader cursor: recycling keeps every partition's log from there",
    )
    .action((c: { from?: string; limit?: number; cursor?: string }) =>
      withKv(async (kv, client) => {
        let from: TxnCdcCheckpoint | undefined;
        if (c.from !== undefined) {
          try {
            from = JSON.parse(c.from) as TxnCdcCheckpoint;
          } catch {
            throw new KvError("BAD_REQUEST", "changes: --from must be the checkpoint JSON");
          }
        }
        const cdc = kv.changes(from === undefined ? {} : { from });
        io.signal?.addEventListener("abort", () => void cdc.close(), { once: true });
        let n = 0;
        if (c.limit !== 0)
          for await (const t of cdc) {
            print({
              commitVersion: t.commitVersion,
              txnId: t.txnId,
              writes: t.writes.map((w) => ({ ...w, value: jsonValue(w.value) })),
            });
            if (c.limit !== undefined && ++n >= c.limit) break;
          }
        const checkpoint = cdc.checkpoint();
        await cdc.close();
        if (c.cursor !== undefined)
          await client.cursors().save(c.cursor, cdcCursorPosition(checkpoint, kv.map), { all: true });
        print({ checkpoint, ...(c.cursor === undefined ? {} : { cursor: c.cursor }) });
      }),
    );

  program
    .command("status")
    .description("each store server's status (with --servers)")
    .action(async () => {
      const o = g();
      const servers = o.servers === undefined ? [] : list(o.servers);
      if (servers.length === 0)
        throw new KvError("BAD_REQUEST", "status needs --servers (or PALFKV_SERVERS)");
      const transport = await connectNatsTransport({
        cluster: o.cluster,
        nodeId: `kvcli-${process.pid}`,
        servers: list(o.nats),
      });
      try {
        const remote = new RemoteKvService(transport, { servers, requestTimeoutMs: 5000 });
        for (const s of servers) {
          try {
            print({ server: s, status: await remote.status(s) });
          } catch (e) {
            code = 1;
            print({ server: s, error: (e as Error).message });
          }
        }
      } finally {
        await transport.close();
      }
    });

  try {
    await program.parseAsync([...argv], { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof KvError && e.code === "BAD_REQUEST") {
      io.err(`palfkv: ${e.message}\n`);
      print({ error: e.code, message: e.message });
      return 2;
    }
    const err = e as { code?: string; message?: string };
    io.err(`palfkv: ${err.message ?? String(e)}\n`);
    print({ error: err.code ?? "ERROR", message: err.message ?? String(e) });
    return 1;
  }
  return code;
}
