import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { type Command, InvalidArgumentError, Option } from "commander";
import type { CliIo, GlobalOptions } from "./cli.ts";
import { jsonLine } from "./output.ts";

/**
 * A saved connection, like `nats context`: servers, cluster, seed nodes and credentials. Secrets are kept
 * as paths to files (read when palfctl connects), never as values, so the store holds no password.
 */
export interface PalfContext {
  readonly nats?: string[];
  readonly cluster?: string;
  readonly nodes?: string[];
  readonly user?: string;
  readonly passFile?: string;
  readonly tokenFile?: string;
  readonly tlsCa?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
  readonly description?: string;
}

interface ContextFile {
  current?: string;
  contexts: Record<string, PalfContext>;
}

type Env = Readonly<Record<string, string | undefined>>;

const CONTEXT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const CONTEXT_KEYS = new Set([
  "nats",
  "cluster",
  "nodes",
  "user",
  "passFile",
  "tokenFile",
  "tlsCa",
  "tlsCert",
  "tlsKey",
  "description",
]);

/** `$XDG_CONFIG_HOME/palf/contexts.json`, else `~/.config/palf/contexts.json`. */
export function contextStorePath(env: Env): string {
  const base = env.XDG_CONFIG_HOME || join(env.HOME || homedir(), ".config");
  return join(base, "palf", "contexts.json");
}

export function parseContextName(value: string): string {
  if (!CONTEXT_NAME.test(value)) throw new InvalidArgumentError(`context names match ${CONTEXT_NAME}.`);
  return value;
}

/** The whole store; a missing file is an empty store, a broken one a clear error naming the file. */
export function readContexts(env: Env): ContextFile {
  const file = contextStorePath(env);
  if (!existsSync(file)) return { contexts: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file} is not valid JSON (${(e as Error).message}).`);
  }
  const store = parsed as ContextFile;
  if (store === null || typeof store !== "object" || typeof store.contexts !== "object")
    throw new Error(`${file} holds no "contexts" object.`);
  for (const [name, ctx] of Object.entries(store.contexts))
    for (const key of Object.keys(ctx))
      if (!CONTEXT_KEYS.has(key))
        throw new Error(`${file}: context ${JSON.stringify(name)} has an unknown key "${key}".`);
  return store;
}

/** Replaces the store atomically, readable by its owner only (0600 in a 0700 directory). */
export function writeContexts(env: Env, store: ContextFile): void {
  const file = contextStorePath(env);
  const dir = join(file, "..");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(store, null, 2)}\n`, { mode: 0o600 });
  // The mode given to writeFileSync is masked by the umask; make sure.
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
}

/** The global `--context <name>` option (or PALF_CONTEXT; default: the one `context use` selected). */
export function contextOption(env: Env): Option {
  const o = new Option(
    "--context <name>",
    "use this saved context (or PALF_CONTEXT; default: the one chosen by `palfctl context use`)",
  ).argParser(parseContextName);
  return env.PALF_CONTEXT ? o.default(env.PALF_CONTEXT) : o;
}

/** Which environment variable overrides a context's value (flags override both). */
const ENV_OF: Record<string, string> = {
  nats: "PALF_NATS",
  cluster: "PALF_CLUSTER",
  nodes: "PALF_NODES",
  user: "PALF_NATS_USER",
  pass: "PALF_NATS_PASS",
  token: "PALF_NATS_TOKEN",
  passFile: "PALF_NATS_PASS_FILE",
  tokenFile: "PALF_NATS_TOKEN_FILE",
};

/**
 * The global options with the context filled in: a flag wins, then an environment variable, then the
 * context, then palfctl's default. Secret files are read here, so their values never appear in argv.
 */
export function resolveGlobals(program: Command, env: Env): GlobalOptions {
  const g = { ...program.opts<GlobalOptions & { context?: string }>() };
  const store = readContexts(env);
  const name = g.context ?? store.current;
  if (name === undefined) return g;
  const ctx = store.contexts[name];
  if (ctx === undefined) {
    const hint = g.context === undefined ? " (selected by `palfctl context use`)" : "";
    throw new InvalidArgumentError(
      `no context named ${JSON.stringify(name)}${hint}; see palfctl context ls.`,
    );
  }
  const wins = (key: string) =>
    program.getOptionValueSource(key) === "cli" || Boolean(ENV_OF[key] && env[ENV_OF[key]!]);
  const w = g as unknown as Record<string, unknown>;
  const fill = (key: string, value: unknown) => {
    if (value !== undefined && !wins(key)) w[key] = value;
  };
  fill("nats", ctx.nats);
  fill("cluster", ctx.cluster);
  fill("nodes", ctx.nodes);
  fill("user", ctx.user);
  fill("tlsCa", ctx.tlsCa);
  fill("tlsCert", ctx.tlsCert);
  fill("tlsKey", ctx.tlsKey);
  // A password or token given another way (variable, or a global --pass-file/--token-file) wins.
  if (ctx.passFile !== undefined && !wins("pass") && !wins("passFile"))
    w.pass = readSecret(name, "password", ctx.passFile);
  if (ctx.tokenFile !== undefined && !wins("token") && !wins("tokenFile"))
    w.token = readSecret(name, "token", ctx.tokenFile);
  return g;
}

/** Changes the store where context `name` must exist (a usage error, exit 2, if it does not). */
function editExisting(env: Env, name: string, cmd: Command, edit: (store: ContextFile) => void): void {
  const store = readContexts(env);
  if (store.contexts[name] === undefined)
    cmd.error(`palfctl: no context named ${JSON.stringify(name)}; see palfctl context ls.`);
  edit(store);
  writeContexts(env, store);
}

function dashed(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function readSecret(context: string, what: string, file: string): string {
  try {
    // One trailing newline is how editors and `echo` leave it; it is not part of the secret.
    return readFileSync(file, "utf8").replace(/\r?\n$/, "");
  } catch (e) {
    throw new InvalidArgumentError(
      `cannot read the ${what} file ${file} of context ${JSON.stringify(context)}: ${(e as Error).message}`,
    );
  }
}

/** Settings `context save` takes from palfctl's global flags (only those given on this command line). */
const SAVED_GLOBALS = ["nats", "cluster", "nodes", "user", "tlsCa", "tlsCert", "tlsKey"] as const;
/** Settings that name files: checked to exist now, stored as absolute paths. */
const FILE_KEYS = new Set(["passFile", "tokenFile", "tlsCa", "tlsCert", "tlsKey"]);

/** `palfctl context save|use|ls|rm`: these touch only the local store, never the cluster. */
export function registerContextCommands(program: Command, io: CliIo, env: Env): void {
  const context = program
    .command("context")
    .description(
      "saved connections (servers, cluster, nodes, credential files), stored 0600 under $XDG_CONFIG_HOME/palf",
    );

  context
    .command("save")
    .description(
      "create or update a context from the global flags given with it (--nats, --cluster, --nodes, --user, --tls-*) and the files below; settings not given stay",
    )
    .argument("<name>", "context name", parseContextName)
    .option("--pass-file <file>", "file holding the NATS password (the path is saved, not the password)")
    .option("--token-file <file>", "file holding a NATS token (the path is saved, not the token)")
    .option("--description <text>", "a note shown by context ls")
    .option("--select", "also make it the current context")
    .action((name: string, o: Record<string, unknown>, cmd: Command) => {
      // Global flags are parsed by the program wherever they stand; a global --pass-file (if palfctl has
      // one) lands there too, so both places are read.
      const globals = program.opts<Record<string, unknown>>();
      const given = (key: string) =>
        o[key] ?? (program.getOptionValueSource(key) === "cli" ? globals[key] : undefined);
      const settings: Record<string, unknown> = {};
      for (const key of [...SAVED_GLOBALS, "passFile", "tokenFile", "description"]) {
        let value = given(key);
        if (value === undefined) continue;
        if (FILE_KEYS.has(key)) {
          value = resolve(String(value));
          if (!existsSync(value as string)) cmd.error(`palfctl: ${value} (--${dashed(key)}) does not exist.`);
        }
        settings[key] = value;
      }
      const store = readContexts(env);
      store.contexts[name] = { ...store.contexts[name], ...(settings as PalfContext) };
      if (o.select) store.current = name;
      writeContexts(env, store);
      io.out(
        jsonLine({
          context: name,
          saved: true,
          current: store.current === name,
          file: contextStorePath(env),
        }),
      );
    });

  context
    .command("use")
    .description("make <name> the context palfctl uses when --context is not given")
    .argument("<name>", "context name", parseContextName)
    .action((name: string, _o: unknown, cmd: Command) => {
      editExisting(env, name, cmd, (store) => {
        store.current = name;
      });
      io.out(jsonLine({ context: name, current: true }));
    });

  context
    .command("ls")
    .description("the saved contexts (a table by default; -o json for one JSON line each)")
    .action(() => {
      const store = readContexts(env);
      for (const [name, c] of Object.entries(store.contexts))
        io.out(
          jsonLine({
            name,
            current: store.current === name,
            nats: c.nats ?? null,
            cluster: c.cluster ?? null,
            nodes: c.nodes ?? null,
            user: c.user ?? null,
            passFile: c.passFile ?? null,
            tokenFile: c.tokenFile ?? null,
            description: c.description ?? null,
          }),
        );
    });

  context
    .command("rm")
    .description("delete a context (and unselect it if it was current)")
    .argument("<name>", "context name", parseContextName)
    .action((name: string, _o: unknown, cmd: Command) => {
      editExisting(env, name, cmd, (store) => {
        delete store.contexts[name];
        if (store.current === name) delete store.current;
      });
      io.out(jsonLine({ context: name, removed: true }));
    });
}
