import fs from "node:fs";
import { DEFAULT_COMMIT_INFO_DELAY_MS } from "@palf/node";
import { Command, Option } from "commander";
import { parse as parseYaml } from "yaml";

/**
 * palfd's settings from three sources, highest first: command-line flags, `PALFD_*` environment variables,
 * and a YAML file (`--config palfd.yaml` or PALFD_CONFIG). One table below names every setting once; flags
 * (`--lease-ms`), file keys (`lease-ms:`) and variables (`PALFD_LEASE_MS`) all come from it. Secrets are read
 * from files only (`pass-file`, `token-file`, `creds`, `nkey-seed`): a value on a command line shows in `ps`.
 */
export interface PalfdConfig {
  readonly node: string;
  readonly data: string;
  readonly nats: readonly string[];
  readonly cluster: string;
  readonly shards?: number;
  readonly leaseMs: number;
  readonly segmentBytes?: number;
  readonly diskBudgetMb?: number;
  readonly diskReserveMb?: number;
  /** Hold a leader's commit info back this long so the next push carries it (0: send it at once; default 100). */
  readonly commitInfoDelayMs?: number;
  /** Log retention: keep at least the newest n bytes of each group (then recycle). */
  readonly retainBytes?: number;
  /** Log retention: keep at least the entries committed in the last ms. */
  readonly retainMs?: number;
  readonly retainIntervalMs: number;
  readonly logLevel: string;
  /** Where the HTTP server (metrics, probes, status page) listens; none unless set. */
  readonly http?: { readonly host: string; readonly port: number };
  /** Nodes the status page asks besides those this node shares a group with. */
  readonly peers: readonly string[];
  readonly user?: string;
  readonly passFile?: string;
  readonly tokenFile?: string;
  readonly creds?: string;
  readonly nkeySeed?: string;
  readonly tlsCa?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
}

type Kind = "id" | "ids" | "urls" | "text" | "file" | "positive" | "count" | "level" | "hostport";

interface Setting {
  readonly key: keyof PalfdConfig;
  readonly kind: Kind;
  readonly help: string;
  readonly arg: string;
  readonly fallback?: unknown;
}

/** Every setting, in the order `--help` lists them. */
const settings: readonly Setting[] = [
  {
    key: "node",
    kind: "id",
    arg: "id",
    help: "this node's id ([A-Za-z0-9_-], unique in the cluster); required",
  },
  { key: "data", kind: "text", arg: "dir", help: "data directory (created if missing); required" },
  {
    key: "nats",
    kind: "urls",
    arg: "urls",
    help: "NATS server URL(s), comma separated",
    fallback: ["nats://127.0.0.1:4222"],
  },
  {
    key: "cluster",
    kind: "id",
    arg: "name",
    help: "cluster name (subject prefix palf.<cluster>)",
    fallback: "palf",
  },
  {
    key: "shards",
    kind: "positive",
    arg: "k",
    help: "shards (each its own WAL and loop); fixed when the data dir is created",
  },
  {
    key: "leaseMs",
    kind: "positive",
    arg: "ms",
    help: "election lease (renewed every lease/8)",
    fallback: 4000,
  },
  {
    key: "segmentBytes",
    kind: "positive",
    arg: "n",
    help: "WAL segment size in bytes (default 64 MiB, at least 4096); use the same on every node",
  },
  {
    key: "diskBudgetMb",
    kind: "positive",
    arg: "mb",
    help: "fixed WAL disk budget per shard; leaders refuse appends near it (default: follow the filesystem's free space)",
  },
  {
    key: "diskReserveMb",
    kind: "positive",
    arg: "mb",
    help: "free space kept on the data dir's filesystem: appends are refused (NOSPACE alarm) below it (default: a tenth of the filesystem, 16..256 MiB)",
  },
  {
    key: "commitInfoDelayMs",
    kind: "count",
    arg: "ms",
    help: "hold a leader's commit info back up to ms so the next push carries it (fewer peer messages; followers' reads lag by up to ms); 0 sends it at once",
    fallback: DEFAULT_COMMIT_INFO_DELAY_MS,
  },
  {
    key: "retainBytes",
    kind: "positive",
    arg: "n",
    help: "log retention: keep at least the newest n bytes of each group (then recycle)",
  },
  {
    key: "retainMs",
    kind: "positive",
    arg: "ms",
    help: "log retention: keep at least the entries committed in the last ms",
  },
  {
    key: "retainIntervalMs",
    kind: "positive",
    arg: "ms",
    help: "how often bases advance by the retention policy",
    fallback: 1000,
  },
  { key: "logLevel", kind: "level", arg: "level", help: "pino log level", fallback: "info" },
  {
    key: "http",
    kind: "hostport",
    arg: "host:port",
    help: "serve /metrics, /healthz, /readyz and the status page / here (off unless set)",
  },
  {
    key: "peers",
    kind: "ids",
    arg: "ids",
    help: "nodes the status page shows besides those sharing a group with this one",
    fallback: [],
  },
  { key: "user", kind: "text", arg: "user", help: "NATS user" },
  { key: "passFile", kind: "file", arg: "file", help: "file holding the NATS password" },
  { key: "tokenFile", kind: "file", arg: "file", help: "file holding the NATS token" },
  { key: "creds", kind: "file", arg: "file", help: "NATS credentials file (JWT + nkey seed)" },
  { key: "nkeySeed", kind: "file", arg: "file", help: "file holding this node's NATS nkey seed" },
  { key: "tlsCa", kind: "file", arg: "file", help: "CA certificate for TLS to NATS" },
  { key: "tlsCert", kind: "file", arg: "file", help: "client certificate for TLS to NATS" },
  { key: "tlsKey", kind: "file", arg: "file", help: "client key for TLS to NATS" },
];

/** Secrets that must not be given as values: the setting to use instead. */
const inlineSecrets: Readonly<Record<string, string>> = { pass: "pass-file", token: "token-file" };

const LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** A setting that is missing or bad; the message names the setting as its source spells it. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const envName = (key: string) => `PALFD_${kebab(key).replace(/-/g, "_").toUpperCase()}`;

/** The command line: one flag per setting (no defaults here, so an absent flag lets env and file speak). */
export function palfdCommand(): Command {
  const cmd = new Command()
    .name("palfd")
    .description(
      "palf node daemon: hosts PALF groups, talks to peers and clients over NATS.\n" +
        "Settings come from flags, then PALFD_* environment variables (PALFD_LEASE_MS), then the --config file.",
    )
    .option("--config <file>", "YAML file of settings (keys as the flags: lease-ms: 2000); env PALFD_CONFIG");
  for (const s of settings) {
    const fallback = s.fallback === undefined ? "" : ` (default ${[s.fallback].flat().join(",") || "none"})`;
    cmd.option(`--${kebab(s.key)} <${s.arg}>`, s.help + fallback);
  }
  for (const [secret, use] of Object.entries(inlineSecrets))
    cmd.addOption(new Option(`--${secret} <value>`, `refused: use --${use}`).hideHelp());
  return cmd;
}

export interface ConfigSources {
  /** Parsed flags (commander's opts(), camelCase keys). */
  readonly flags: Readonly<Record<string, unknown>>;
  readonly env: Readonly<Record<string, string | undefined>>;
}

/** Merges flags > env > file > defaults and checks every value; throws ConfigError naming the bad setting. */
export function resolvePalfdConfig(sources: ConfigSources): PalfdConfig {
  const { flags, env } = sources;
  for (const [secret, use] of Object.entries(inlineSecrets)) {
    if (flags[secret] !== undefined)
      throw new ConfigError(
        `--${secret}: secrets are read from files, never from the command line: use --${use}`,
      );
  }
  const known = new Set(settings.map((s) => envName(s.key)));
  known.add("PALFD_CONFIG");
  for (const name of Object.keys(env)) {
    if (!name.startsWith("PALFD_") || known.has(name)) continue;
    const secret = Object.keys(inlineSecrets).find((k) => name === envName(k));
    throw new ConfigError(
      secret
        ? `${name}: secrets are read from files: use ${envName(inlineSecrets[secret]!)}`
        : `${name}: unknown setting (known: ${[...known].sort().join(", ")})`,
    );
  }
  const configPath = (flags.config as string | undefined) ?? env.PALFD_CONFIG;
  const file = configPath === undefined ? {} : readConfigFile(configPath);
  const out: Record<string, unknown> = {};
  for (const s of settings) {
    const flag = flags[s.key];
    const fromEnv = env[envName(s.key)];
    const fromFile = file[kebab(s.key)];
    const [raw, where] =
      flag !== undefined
        ? [flag, `--${kebab(s.key)}`]
        : fromEnv !== undefined
          ? [fromEnv, envName(s.key)]
          : fromFile !== undefined
            ? [fromFile, `${configPath}: ${kebab(s.key)}`]
            : [undefined, ""];
    if (raw === undefined) {
      if (s.fallback !== undefined) out[s.key] = s.fallback;
      continue;
    }
    out[s.key] = check(s.kind, raw, where);
  }
  for (const key of ["node", "data"] as const) {
    if (out[key] === undefined)
      throw new ConfigError(`${key} is required: --${key}, ${envName(key)} or "${key}:" in the config file`);
  }
  return out as unknown as PalfdConfig;
}

/** The YAML file as a map of known keys; an unknown key, an inline secret or bad YAML is an error. */
function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`--config ${file}: cannot read it: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new ConfigError(`${file}: not valid YAML: ${(err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc))
    throw new ConfigError(`${file}: must be a map of settings (key: value)`);
  const keys = new Set(settings.map((s) => kebab(s.key)));
  for (const key of Object.keys(doc)) {
    if (keys.has(key)) continue;
    if (key in inlineSecrets)
      throw new ConfigError(`${file}: ${key}: secrets are read from files: use ${inlineSecrets[key]}`);
    throw new ConfigError(`${file}: unknown key "${key}" (known: ${[...keys].join(", ")})`);
  }
  return doc as Record<string, unknown>;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;

function check(kind: Kind, raw: unknown, where: string): unknown {
  const bad = (what: string): never => {
    throw new ConfigError(`${where}: ${what}, got ${JSON.stringify(raw)}`);
  };
  const list = (): string[] => {
    const items = Array.isArray(raw) ? raw : typeof raw === "string" ? raw.split(",") : bad("must be a list");
    return items.map((x) => (typeof x === "string" ? x.trim() : bad("must be a list of strings")));
  };
  switch (kind) {
    case "id":
      return typeof raw === "string" && ID.test(raw) ? raw : bad("must match [A-Za-z0-9_-]{1,64}");
    case "ids": {
      const ids = list().filter((x) => x !== "");
      return ids.every((x) => ID.test(x)) ? ids : bad("must be node ids ([A-Za-z0-9_-]{1,64})");
    }
    case "urls": {
      const urls = list().filter((x) => x !== "");
      return urls.length > 0 && urls.every((u) => /^(nats|tls|wss?):\/\/\S+$/.test(u))
        ? urls
        : bad("must be nats://host:port URL(s)");
    }
    case "text":
    case "file":
      return typeof raw === "string" && raw !== "" ? raw : bad("must be a non-empty string");
    case "positive": {
      const n =
        typeof raw === "number" ? raw : typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : NaN;
      return Number.isSafeInteger(n) && n >= 1 ? n : bad("must be a positive integer");
    }
    case "count": {
      const n =
        typeof raw === "number" ? raw : typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : NaN;
      return Number.isSafeInteger(n) && n >= 0 ? n : bad("must be a non-negative integer");
    }
    case "level":
      return typeof raw === "string" && LEVELS.includes(raw)
        ? raw
        : bad(`must be one of ${LEVELS.join(", ")}`);
    case "hostport": {
      const m = typeof raw === "string" ? /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(raw) : null;
      const port = m ? Number(m[2]) : -1;
      if (!m || port > 65535) return bad("must be host:port (port 0 picks a free one)");
      return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
    }
  }
}
