import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { createConnection, createServer } from "node:net";
import { delimiter, join } from "node:path";

/**
 * A nats-server child process for tests: on loopback, on a free port, owned by the test that started it
 * (never a server someone else started). Other packages' tests use it through @palf/transport.
 */
export interface NatsServerProcess {
  readonly port: number;
  /** "nats://127.0.0.1:<port>" */
  readonly url: string;
  /** Kills the server (SIGTERM, then SIGKILL) and waits until it has exited. */
  stop(): Promise<void>;
}

export interface NatsServerOptions {
  /** Default: a free loopback port. Pass the old port to restart a stopped server in its place. */
  readonly port?: number;
  /** Extra command-line flags, e.g. ["--user", "a", "--pass", "b"] or ["-c", configFile]. */
  readonly args?: readonly string[];
  /** Extra environment variables, e.g. the passwords a config file refers to as $VARIABLE. */
  readonly env?: Readonly<Record<string, string>>;
  /** How long to wait for the server to accept connections; default 10 s (a loaded CI machine is slow). */
  readonly startTimeoutMs?: number;
}

/** Finds nats-server: $NATS_SERVER_BIN, then PATH, then /usr/sbin and /usr/local/bin (Debian's package). */
export function findNatsServer(): string {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv) return fromEnv;
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/bin", "/usr/bin"];
  for (const dir of dirs) {
    if (!dir) continue;
    const path = join(dir, "nats-server");
    try {
      accessSync(path, constants.X_OK);
      return path;
    } catch {}
  }
  throw new Error("nats-server not found on PATH or in /usr/sbin: apt-get install -y nats-server");
}

/** Starts nats-server and resolves once it accepts TCP connections. */
export async function startNatsServer(o: NatsServerOptions = {}): Promise<NatsServerProcess> {
  const bin = findNatsServer();
  // A free port can be taken between probing and binding; with no fixed port, retry on a new one.
  for (let attempt = 1; ; attempt++) {
    const port = o.port ?? (await freePort());
    try {
      return await launch(bin, port, o);
    } catch (e) {
      if (o.port !== undefined || attempt >= 5) throw e;
    }
  }
}

async function launch(bin: string, port: number, o: NatsServerOptions): Promise<NatsServerProcess> {
  const child = spawn(bin, ["-a", "127.0.0.1", "-p", String(port), ...(o.args ?? [])], {
    stdio: ["ignore", "ignore", "pipe"],
    ...(o.env ? { env: { ...process.env, ...o.env } } : {}),
  });
  let log = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // A test process that dies without stop() must not leave servers behind.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const stop = async () => {
    process.off("exit", killOnExit);
    await kill(child, exited);
  };
  try {
    await waitUntilReady(port, child, () => log, o.startTimeoutMs ?? 10_000);
  } catch (e) {
    await stop();
    throw new Error(`nats-server on port ${port} did not start: ${(e as Error).message}\n${log}`);
  }
  return { port, url: `nats://127.0.0.1:${port}`, stop };
}

async function kill(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill("SIGTERM");
  const forced = setTimeout(() => child.kill("SIGKILL"), 5000);
  await exited;
  clearTimeout(forced);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/**
 * Ready = our child logged "Server is ready" and the port answers with INFO. The log line proves the
 * port is ours (another process that grabbed the port first would make our server exit instead).
 */
async function waitUntilReady(
  port: number,
  child: ChildProcess,
  log: () => string,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited (${child.exitCode})`);
    if (log().includes("Server is ready") && (await answersInfo(port))) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`not ready after ${timeoutMs} ms`);
}

/** True when a NATS server on the port sends its INFO line. */
function answersInfo(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once("data", (d) => done(d.toString().startsWith("INFO")));
    socket.once("error", () => done(false));
    socket.setTimeout(1000, () => done(false));
  });
}
