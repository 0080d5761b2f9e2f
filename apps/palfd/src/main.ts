// palfd: the palf node daemon. `palfd --node n1 --nats nats://127.0.0.1:4222 --data ./data/n1 [--shards K]`
// Settings also come from PALFD_* variables and `--config palfd.yaml` (see palfd-config.ts).
import fs from "node:fs";
import path from "node:path";
import { PalfNode } from "@palf/node";
import {
  connectNatsTransport,
  credentialsFromFiles,
  credsAuthenticator,
  decodeResponse,
  encodeRpc,
  nkeyAuthenticator,
  readSecretFile,
  SecretFileError,
} from "@palf/transport";
import pino from "pino";
import { ClusterView } from "./cluster-view.ts";
import { startHttpServer } from "./http-server.ts";
import { ConfigError, type PalfdConfig, palfdCommand, resolvePalfdConfig } from "./palfd-config.ts";
import { type NatsState, type NodeStatus, PalfdMetrics } from "./palfd-metrics.ts";

const program = palfdCommand()
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
  .parse();
let o: PalfdConfig;
try {
  o = resolvePalfdConfig({ flags: program.opts(), env: process.env });
} catch (err) {
  if (!(err instanceof ConfigError)) throw err;
  console.error(`palfd: ${err.message}`);
  process.exit(2);
}
const log = pino({ level: o.logLevel, base: { node: o.node } });

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

// Secrets come from files only (a value on a command line shows in `ps`); a bad file is a usage error.
let secrets: { user?: string; pass?: string; token?: string; creds?: string; nkeySeed?: string };
try {
  secrets = {
    ...credentialsFromFiles({
      ...(o.user ? { user: o.user } : {}),
      ...(o.passFile ? { passFile: o.passFile } : {}),
      ...(o.tokenFile ? { tokenFile: o.tokenFile } : {}),
    }),
    ...(o.creds ? { creds: readSecretFile(o.creds, "--creds") } : {}),
    ...(o.nkeySeed ? { nkeySeed: readSecretFile(o.nkeySeed, "--nkey-seed").trim() } : {}),
  };
} catch (err) {
  if (!(err instanceof SecretFileError)) throw err;
  console.error(`palfd: ${err.message}`);
  process.exit(2);
}
const { pass, token } = secrets;
const authenticator =
  secrets.creds !== undefined
    ? credsAuthenticator(new TextEncoder().encode(secrets.creds))
    : secrets.nkeySeed !== undefined
      ? nkeyAuthenticator(new TextEncoder().encode(secrets.nkeySeed))
      : undefined;
const tls =
  o.tlsCa || o.tlsCert || o.tlsKey
    ? {
        ...(o.tlsCa ? { caFile: o.tlsCa } : {}),
        ...(o.tlsCert ? { certFile: o.tlsCert } : {}),
        ...(o.tlsKey ? { keyFile: o.tlsKey } : {}),
      }
    : undefined;

// Probes and metrics answer from the start: /healthz while NATS connects, /readyz once the WAL is recovered.
const nats: NatsState = { connected: false, disconnects: 0, reconnects: 0 };
let node: PalfNode | undefined;
const status = (): NodeStatus | undefined => node?.status();
const metrics = o.http ? new PalfdMetrics(o.node, status, nats) : undefined;
let view: ClusterView | undefined;
const http =
  o.http && metrics
    ? await startHttpServer({
        host: o.http.host,
        port: o.http.port,
        metrics: () => metrics.metrics(),
        metricsContentType: metrics.registry.contentType,
        health: () => ({ ok: nats.connected, nats: nats.connected ? "connected" : "disconnected" }),
        ready: () => (node ? { ok: true } : { ok: false, reason: "recovering the WAL and loading groups" }),
        cluster: async () => {
          if (!view) throw new Error("the node is still starting");
          return view.snapshot();
        },
      }).catch((err: Error) => {
        console.error(`palfd: cannot listen on ${o.http?.host}:${o.http?.port}: ${err.message}`);
        process.exit(2);
      })
    : undefined;

let transport: Awaited<ReturnType<typeof connectNatsTransport>>;
try {
  transport = await connectNatsTransport({
    cluster: o.cluster,
    nodeId: o.node,
    servers: [...o.nats],
    connection: {
      ...(o.user ? { user: o.user } : {}),
      ...(pass ? { pass } : {}),
      ...(token ? { token } : {}),
      ...(authenticator ? { authenticator } : {}),
      ...(tls ? { tls } : {}),
    },
    log: (level, message, detail) => log[level]({ detail }, message),
  });
} catch (err) {
  console.error(`palfd: cannot reach NATS at ${o.nats.join(",")}: ${(err as Error).message}`);
  process.exit(1);
}
nats.connected = true;
transport.onStatus((s) => {
  if (s.type === "disconnect") {
    nats.connected = false;
    nats.disconnects++;
  } else if (s.type === "reconnect") {
    nats.connected = true;
    nats.reconnects++;
  }
});

const leaseMs = o.leaseMs;
// A group entry is one WAL record and must fit in a segment: it is frozen once it holds
// maxGroupEntryBytes, so it can reach that plus one payload. Small segments lower both below the core's
// defaults (256 KiB, 512 KiB); a record that did not fit would take every group of its WAL batch out of
// service, while a payload above the cap is refused with TOO_LARGE.
const recordCap = o.segmentBytes ? Math.floor(o.segmentBytes / 4) : undefined;
node = await PalfNode.start({
  nodeId: o.node,
  dataDir: o.data,
  transport,
  log,
  ...(o.shards ? { shards: o.shards } : {}),
  ...(o.segmentBytes ? { segmentBytes: o.segmentBytes } : {}),
  ...(o.diskBudgetMb ? { diskBudgetBytes: o.diskBudgetMb * 2 ** 20 } : {}),
  diskFreeSpace: o.diskReserveMb ? { reserveBytes: o.diskReserveMb * 2 ** 20 } : {},
  replica: {
    // Commit points ride on the next push (--commit-info-delay-ms, default PalfNode's; 0: commit info at once).
    ...(o.commitInfoDelayMs !== undefined ? { commitInfoDelayMs: o.commitInfoDelayMs } : {}),
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
  ...(metrics ? { observer: metrics.observer } : {}),
  ...(o.retainBytes || o.retainMs
    ? {
        retention: {
          ...(o.retainBytes ? { bytes: o.retainBytes } : {}),
          ...(o.retainMs ? { ms: o.retainMs } : {}),
          intervalMs: o.retainIntervalMs,
        },
      }
    : {}),
  onFatal: () => process.exit(1),
}).catch((err: Error) => {
  console.error(`palfd: cannot start: ${err.message}`);
  process.exit(1);
});
const started = node;
if (http) {
  view = new ClusterView({
    cluster: o.cluster,
    self: o.node,
    peers: o.peers,
    local: () => started.status(),
    remote: async (peer) => {
      const r = decodeResponse(await transport.request(peer, encodeRpc({ op: "status" }), 1500));
      if (!r.ok) throw new Error(`${r.error.code}: ${r.error.message ?? ""}`);
      if (r.op !== "status") throw new Error(`unexpected answer ${r.op}`);
      return r.status as NodeStatus;
    },
  });
  view.start();
}
log.info({ status: node.status(), ...(http ? { http: http.url } : {}) }, "palfd ready");

let stopping = false;
const stop = async (signal: string) => {
  if (stopping) return;
  stopping = true;
  log.info({ signal }, "stopping: handing leaderships over");
  view?.stop();
  await started.stop({ transferMs: Math.min(5000, leaseMs * 2) });
  await transport.close();
  await http?.close();
  log.info("stopped");
  process.exit(0);
};
process.on("SIGTERM", () => void stop("SIGTERM"));
process.on("SIGINT", () => void stop("SIGINT"));
