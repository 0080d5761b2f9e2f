// Where `palf bench append` sends its load: an existing cluster (`--nats URL[,URL...] --nodes n1,n2,n3`
// with palfctl's credentials, secrets read from files), or a cluster it starts on this machine. Also the
// idempotent creation of the bench's groups, so that a second run against the same cluster reuses them.
import { type ConnectOptions, type PalfClient, PalfError } from "@palf/client";
import { pool, sleep } from "@palf/harness";
import { credsAuthenticator, readSecretFile, SecretFileError } from "@palf/transport";
import { UsageError } from "./flags.ts";

/** NATS credentials as flags give them: names and file paths only, so they can be passed to child processes. */
export interface AuthSpec {
  readonly user?: string;
  readonly passFile?: string;
  readonly tokenFile?: string;
  readonly credsFile?: string;
  readonly tlsCa?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
}

/** How every client of the run connects (without per-client tuning). */
export interface TargetSpec {
  readonly cluster: string;
  readonly nodes: readonly string[];
  readonly servers: readonly string[];
  readonly auth: AuthSpec;
}

/** A secret file's text; an unreadable or empty file is a usage error naming the flag. */
function secretOf(file: string, flag: string): string {
  try {
    return readSecretFile(file, flag);
  } catch (e) {
    throw e instanceof SecretFileError ? new UsageError(e.message) : e;
  }
}

/**
 * The NATS connection options: user (or PALF_NATS_USER), password from --pass-file (or
 * PALF_NATS_PASS), token from --token-file (or PALF_NATS_TOKEN), a JWT credentials file, TLS files.
 */
export function connectionOf(
  auth: AuthSpec,
  env: Readonly<Record<string, string | undefined>> = process.env,
): NonNullable<ConnectOptions["connection"]> {
  const user = auth.user ?? (env.PALF_NATS_USER || undefined);
  const pass = auth.passFile ? secretOf(auth.passFile, "--pass-file") : env.PALF_NATS_PASS || undefined;
  const token = auth.tokenFile ? secretOf(auth.tokenFile, "--token-file") : env.PALF_NATS_TOKEN || undefined;
  // NATS takes a password only with its user: without one the password would be dropped unseen.
  if (pass && !user) throw new UsageError("a NATS password needs a user (--user or PALF_NATS_USER)");
  const tls =
    auth.tlsCa || auth.tlsCert || auth.tlsKey
      ? {
          ...(auth.tlsCa ? { caFile: auth.tlsCa } : {}),
          ...(auth.tlsCert ? { certFile: auth.tlsCert } : {}),
          ...(auth.tlsKey ? { keyFile: auth.tlsKey } : {}),
        }
      : undefined;
  return {
    name: "palf-bench",
    ...(user ? { user } : {}),
    ...(pass ? { pass } : {}),
    ...(token ? { token } : {}),
    ...(auth.credsFile
      ? {
          authenticator: credsAuthenticator(new TextEncoder().encode(secretOf(auth.credsFile, "--creds"))),
        }
      : {}),
    ...(tls ? { tls } : {}),
  };
}

export function connectOptionsOf(t: TargetSpec): ConnectOptions {
  return { cluster: t.cluster, nodes: t.nodes, servers: t.servers, connection: connectionOf(t.auth) };
}

/** `--nodes 3` (n1..n3) or `--nodes a,b,c`. */
export function parseNodes(value: string): string[] {
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    if (n < 1 || n > 64) throw new UsageError(`--nodes must be 1..64 or a list of node ids, got ${value}`);
    return Array.from({ length: n }, (_, i) => `n${i + 1}`);
  }
  const ids = value.split(",").map((s) => s.trim());
  if (ids.some((id) => !/^[A-Za-z0-9_-]{1,64}$/.test(id)) || new Set(ids).size !== ids.length)
    throw new UsageError(`--nodes must be a count or distinct node ids like n1,n2,n3, got ${value}`);
  return ids;
}

/** `--nats a,b` as a list of URLs. */
export function parseServers(value: string): string[] {
  const urls = value.split(",").map((s) => s.trim());
  for (const u of urls)
    if (!/^(nats|tls|ws|wss):\/\/[^\s/]+/.test(u) && !/^[^\s/:]+:\d+$/.test(u))
      throw new UsageError(`--nats: ${JSON.stringify(u)} is not a NATS URL such as nats://127.0.0.1:4222`);
  return urls;
}

/**
 * The incarnation id of groups the bench creates: fixed, so creating them again is a no-op on every node
 * that has them (a node answers "created" for the incarnation it already hosts).
 */
export const BENCH_INC = 1;

/**
 * Creates `ids` on `nodes` unless they exist: a group some node already hosts as another incarnation
 * (created by someone else) is used as it is. Returns how many of them already existed in another form.
 */
export async function ensureGroups(
  admin: PalfClient,
  ids: readonly number[],
  nodes: readonly string[],
  onProgress?: (done: number) => void,
): Promise<{ foreign: number }> {
  let foreign = 0;
  let done = 0;
  await pool(ids, 64, async (g) => {
    try {
      await admin.createGroup(g, nodes, { inc: BENCH_INC });
    } catch (e) {
      if (!(e instanceof PalfError && /is here as incarnation/.test(e.message))) throw e;
      foreign++;
    }
    onProgress?.(++done);
  });
  return { foreign };
}

/** Waits until each of `ids` has a leader with a valid lease on one of `nodes`; resolves with the ms it took. */
export async function waitGroupsLed(
  admin: PalfClient,
  ids: readonly number[],
  nodes: readonly string[],
  timeoutMs: number,
): Promise<number> {
  const t0 = performance.now();
  let left = [...ids];
  for (;;) {
    const still: number[] = [];
    await pool(left, 64, async (g) => {
      const views = await Promise.all(
        nodes.map((n) =>
          admin
            .status(n, { group: g })
            .then((s) => s as { role?: string; leaseValid?: boolean } | null | undefined)
            .catch(() => undefined),
        ),
      );
      if (!views.some((v) => v?.role === "leader" && v.leaseValid)) still.push(g);
    });
    left = still;
    if (left.length === 0) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs)
      throw new Error(
        `${left.length} of ${ids.length} groups have no leader after ${timeoutMs} ms (e.g. ${left[0]})`,
      );
    await sleep(200);
  }
}
