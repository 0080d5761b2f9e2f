// palfd: the palf node daemon. `palfd --node n1 --nats nats://127.0.0.1:4222 --data ./data/n1 [--shards K]`
import fs from "node:fs";
import path from "node:path";
import { PalfNode } from "@palf/node";
import { connectNatsTransport, credsAuthenticator, nkeyAuthenticator } from "@palf/transport";
import { Command, InvalidArgumentError } from "commander";
import pino from "pino";

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
};

const program = new Command()
  .name("palfd")
  .description("palf node daemon: hosts PALF groups, talks to peers and clients over NATS")
  .requiredOption("--node <id>", "this node's id ([A-Za-z0-9_-], unique in the cluster)")
  .requiredOption("--data <dir>", "data directory (created if missing)")
  .option("--nats <urls>", "NATS server URL(s), comma separated", "nats://127.0.0.1:4222")
  .option("--cluster <name>", "cluster name (subject prefix palf.<cluster>)", "palf")
  .option(
    "--shards <k>",
    "shards (each its own WAL and loop); fixed when the data dir is created",
    positiveInt,
  )
  .option("--lease-ms <ms>", "election lease (renewed every lease/8)", positiveInt, 4000)
  .option(
    "--segment-bytes <n>",
    "WAL segment size in bytes (default 64 MiB, at least 4096); use the same on every node",
    positiveInt,
  )
  .option("--user <user>", "NATS user")
  .option("--pass <password>", "NATS password")
  .option("--token <token>", "NATS token")
  .option("--creds <file>", "NATS credentials file (JWT + nkey seed)")
  .option("--nkey-seed <file>", "file holding this node's NATS nkey seed")
  .option("--tls-ca <file>", "CA certificate for TLS to NATS")
  .option("--tls-cert <file>", "client certificate for TLS to NATS")
  .option("--tls-key <file>", "client key for TLS to NATS")
  .option(
    "--disk-budget-mb <mb>",
    "fixed WAL disk budget per shard; leaders refuse appends near it (default: follow the filesystem's free space)",
    positiveInt,
  )
  .option(
    "--disk-reserve-mb <mb>",
    "free space kept on the data dir's filesystem: appends are refused (NOSPACE alarm) below it " +
      "(default: a tenth of the filesystem, 16..256 MiB)",
    positiveInt,
  )
  .option("--log-level <level>", "pino log level", "info")
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
  .parse();

const o = program.opts<{
  node: string;
  data: string;
  nats: string;
  cluster: string;
  shards?: number;
  leaseMs: number;
  segmentBytes?: number;
  user?: string;
  pass?: string;
  token?: string;
  creds?: string;
  nkeySeed?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  diskBudgetMb?: number;
  diskReserveMb?: number;
  logLevel: string;
}>();
const log = pino({ level: o.logLevel, base: { node: o.node } });

if (!/^[A-Za-z0-9_-]{1,64}$/.test(o.node)) {
  console.error(`palfd: --node ${JSON.stringify(o.node)} must match [A-Za-z0-9_-]{1,64}`);
  process.exit(2);
}
try {
  fs.mkdirSync(o.data, { recursive: true });
  fs.accessSync(o.data, fs.constants.W_OK);
  const probe = path.join(o.data, ".probe");
  fs.writeFileSync(probe, "");
  fs.rmSync(probe);
} catch (err) {
  console.error(`palfd: data dir ${o.data} is not usable: ${(err as Error).message}`);
  process.exit(2);
}

const readSecret = (flag: string, file: string): Uint8Array => {
  try {
    return fs.readFileSync(file);
  } catch (err) {
    console.error(`palfd: cannot read ${flag} ${file}: ${(err as Error).message}`);
    process.exit(2);
  }
};
const authenticator = o.creds
  ? credsAuthenticator(readSecret("--creds", o.creds))
  : o.nkeySeed
    ? nkeyAuthenticator(
        new TextEncoder().encode(new TextDecoder().decode(readSecret("--nkey-seed", o.nkeySeed)).trim()),
      )
    : undefined;
const tls =
  o.tlsCa || o.tlsCert || o.tlsKey
    ? {
        ...(o.tlsCa ? { caFile: o.tlsCa } : {}),
        ...(o.tlsCert ? { certFile: o.tlsCert } : {}),
        ...(o.tlsKey ? { keyFile: o.tlsKey } : {}),
      }
    : undefined;

let transport: Awaited<ReturnType<typeof connectNatsTransport>>;
try {
  transport = await connectNatsTransport({
    cluster: o.cluster,
    nodeId: o.node,
    servers: o.nats.split(","),
    connection: {
      ...(o.user ? { user: o.user } : {}),
      ...(o.pass ? { pass: o.pass } : {}),
      ...(o.token ? { token: o.token } : {}),
      ...(authenticator ? { authenticator } : {}),
      ...(tls ? { tls } : {}),
    },
    log: (level, message, detail) => log[level]({ detail }, message),
  });
} catch (err) {
  console.error(`palfd: cannot reach NATS at ${o.nats}: ${(err as Error).message}`);
  process.exit(1);
}

const leaseMs = o.leaseMs;
// A group entry is one WAL record and must fit in a segment: it is frozen once it holds
// maxGroupEntryBytes, so it can reach that plus one payload. Small segments lower both below the core's
// defaults (256 KiB, 512 KiB); a record that did not fit would take every group of its WAL batch out of
// service, while a payload above the cap is refused with TOO_LARGE.
const recordCap = o.segmentBytes ? Math.floor(o.segmentBytes / 4) : undefined;
const node = await PalfNode.start({
  nodeId: o.node,
  dataDir: o.data,
  transport,
  log,
  ...(o.shards ? { shards: o.shards } : {}),
  ...(o.segmentBytes ? { segmentBytes: o.segmentBytes } : {}),
  ...(o.diskBudgetMb ? { diskBudgetBytes: o.diskBudgetMb * 2 ** 20 } : {}),
  diskFreeSpace: o.diskReserveMb ? { reserveBytes: o.diskReserveMb * 2 ** 20 } : {},
  replica: {
    ...(recordCap === undefined
      ? {}
      : {
          maxGroupEntryBytes: Math.min(256 * 1024, recordCap),
          maxPayloadBytes: Math.min(512 * 1024, recordCap),
        }),
    lease: {
      leaseMs,
      renewMs: leaseMs / 8,
      electionJitterMs: leaseMs / 8,
      voteWindowMs: Math.min(100, leaseMs / 20),
    },
  },
  onFatal: () => process.exit(1),
}).catch((err: Error) => {
  console.error(`palfd: cannot start: ${err.message}`);
  process.exit(1);
});
log.info({ status: node.status() }, "palfd ready");

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "stopping: handing leaderships over");
  await node.stop({ transferMs: Math.min(5000, leaseMs * 2) });
  await transport.close();
  log.info("stopped");
  process.exit(0);
};
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));
