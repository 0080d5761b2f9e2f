import { openCdc } from "@palf/cdc";
import {
  type ConnectOptions,
  connect,
  credentialsFromFiles,
  type PalfClient,
  PalfError,
  SecretFileError,
} from "@palf/client";
import { Command, CommanderError, Option } from "commander";
import { registerCompletionCommand } from "./completion.ts";
import { contextOption, registerContextCommands, resolveGlobals } from "./contexts.ts";
import { registerCursorCommands } from "./cursor-commands.ts";
import { registerMemberCommands } from "./member-commands.ts";
import { registerNodeCommands } from "./node-replace.ts";
import { entryLine, jsonLine } from "./output.ts";
import { type OutputFormat, OutputSink, outputOption } from "./output-format.ts";
import {
  parseGroupId,
  parseGroupList,
  parseNat,
  parseNodeId,
  parseNodeList,
  parsePositive,
  parseServers,
} from "./parse.ts";
import { palfctlVersion } from "./version.ts";

/** Where the CLI writes and how it connects; tests replace these. */
export interface CliIo {
  /** One line of output (a JSON result or entry). */
  readonly out: (line: string) => void;
  /** Help, usage errors and runtime errors. */
  readonly err: (text: string) => void;
  /** Default: @palf/client's connect over NATS. */
  readonly connect?: (o: ConnectOptions) => Promise<PalfClient>;
  /** Ends `tail` (main wires it to Ctrl-C). */
  readonly signal?: AbortSignal;
  /** Environment for defaults (PALF_NATS, PALF_CLUSTER, PALF_NODES, PALF_NATS_USER/PASS/TOKEN). */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** Exit codes: 0 done, 1 runtime error (unreachable NATS, a failed call), 2 usage error. */
export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

/** Wraps a command body: connects with the global options, closes after, maps errors to exit codes. */
export type WithClient = <A extends unknown[]>(
  body: (client: PalfClient, g: GlobalOptions, ...args: A) => Promise<number | undefined>,
) => (...args: A) => Promise<void>;

export interface GlobalOptions {
  /** A list once parsed from a flag; a string when it is the (environment's) default. */
  nats: string[] | string;
  cluster: string;
  nodes: string[] | string;
  timeout: number;
  user?: string;
  pass?: string;
  passFile?: string;
  token?: string;
  tokenFile?: string;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** `-o`; undefined: the command's own default. */
  output?: OutputFormat;
}

/** Runs palfctl with `argv` (without node and script); resolves with the exit code. */
export async function runCli(argv: readonly string[], baseIo: CliIo): Promise<number> {
  // Commands print JSON lines into the sink; with `-o table` it turns them into a table.
  const sink = new OutputSink(baseIo);
  const io = sink.io;
  const env = io.env ?? process.env;
  // An empty variable counts as unset.
  let code = EXIT_OK;
  const program = new Command("palfctl")
    .description("Admin CLI for a palf cluster: one JSON line per result or entry on stdout.")
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s.replace(/\n$/, "")), writeErr: (s) => io.err(s) })
    .showHelpAfterError("(run palfctl --help for usage)")
    .addOption(
      new Option("--nats <urls>", "NATS server URL(s), comma-separated (or PALF_NATS)")
        .default(env.PALF_NATS || "nats://127.0.0.1:4222")
        .argParser(parseServers),
    )
    .option(
      "--cluster <name>",
      "cluster name (or PALF_CLUSTER)",
      parseClusterName,
      env.PALF_CLUSTER || "palf",
    )
    .addOption(
      new Option("--nodes <ids>", "known node ids to try while a group's leader is unknown (or PALF_NODES)")
        .default(env.PALF_NODES || "n1,n2,n3")
        .argParser(parseNodeList),
    )
    .option("--timeout <ms>", "overall time per call, retries included", parsePositive, 10_000)
    .option("--user <user>", "NATS user (or PALF_NATS_USER)", env.PALF_NATS_USER)
    .addOption(refusedSecret("--pass <password>", "--pass-file <file>", "PALF_NATS_PASS", env, io))
    .option(
      "--pass-file <file>",
      "file holding the NATS password (or PALF_NATS_PASS_FILE)",
      env.PALF_NATS_PASS_FILE,
    )
    .addOption(refusedSecret("--token <token>", "--token-file <file>", "PALF_NATS_TOKEN", env, io))
    .option(
      "--token-file <file>",
      "file holding a NATS token (or PALF_NATS_TOKEN_FILE)",
      env.PALF_NATS_TOKEN_FILE,
    )
    .option("--tls-ca <file>", "CA certificate for TLS")
    .option("--tls-cert <file>", "client certificate for TLS")
    .option("--tls-key <file>", "client key for TLS")
    .addOption(contextOption(env))
    .addOption(outputOption())
    .version(palfctlVersion(), "-V, --version", "print palfctl's version");
  sink.attach(program);

  /** Connects with the global options, runs `body`, closes; maps errors to exit code 1. */
  const withClient =
    <A extends unknown[]>(
      body: (client: PalfClient, g: GlobalOptions, ...args: A) => Promise<number | undefined>,
    ) =>
    async (...args: A) => {
      let client: PalfClient | undefined;
      try {
        const g = resolveGlobals(program, env);
        client = await (io.connect ?? connect)(connectOptions(g, io));
        code = (await body(client, g, ...args)) ?? EXIT_OK;
      } catch (e) {
        io.err(`palfctl: ${describe(e)}\n`);
        // A bad default from the environment, or an unusable secret file, is a usage error too.
        code = e instanceof CommanderError || e instanceof SecretFileError ? EXIT_USAGE : EXIT_RUNTIME;
      } finally {
        await client?.close();
      }
    };

  program
    .command("status")
    .description("status of one node, or of every node in --nodes (one line per node)")
    .option("--node <id>", "only this node", parseNodeId)
    .option("--group <id>", "only this group", parseGroupId)
    .action(
      withClient(async (client, _g, o: { node?: string; group?: number }) => {
        const only = o.group === undefined ? {} : { group: o.group };
        if (o.node !== undefined) {
          io.out(jsonLine({ node: o.node, status: await client.status(o.node, only) }));
          return EXIT_OK;
        }
        const reports = await client.status();
        for (const r of reports) io.out(jsonLine(r));
        // Some nodes down is news worth printing; nobody answering is a failure.
        return reports.every((r) => "error" in r) ? EXIT_RUNTIME : EXIT_OK;
      }),
    );

  program
    .command("create-group")
    .description("create a group on every member (and learner) node")
    .argument("<id>", "group id", parseGroupId)
    .requiredOption("--members <ids>", "voting members, comma-separated (e.g. n1,n2,n3)", parseNodeList)
    .option("--learners <ids>", "learners (non-voting replicas), comma-separated", parseNodeList)
    .option("--inc <n>", "incarnation id (default: now in ms)", parseNat)
    .action(
      withClient(
        async (client, _g, id: number, o: { members: string[]; learners?: string[]; inc?: number }) => {
          const r = await client.createGroup(id, o.members, {
            ...(o.learners === undefined ? {} : { learners: o.learners }),
            ...(o.inc === undefined ? {} : { inc: o.inc }),
          });
          io.out(jsonLine(r));
          return EXIT_OK;
        },
      ),
    );

  program
    .command("delete-group")
    .description("delete a group's replicas (asks every node in --nodes, or --on)")
    .argument("<id>", "group id", parseGroupId)
    .option("--on <ids>", "ask only these nodes", parseNodeList)
    .action(
      withClient(async (client, _g, id: number, o: { on?: string[] }) => {
        io.out(jsonLine(await client.deleteGroup(id, o.on === undefined ? {} : { nodes: o.on })));
        return EXIT_OK;
      }),
    );

  program
    .command("append")
    .description("append entries to a group (each text argument is one entry; one line per committed entry)")
    .argument("<group>", "group id", parseGroupId)
    .argument("<text...>", "entry payloads (UTF-8)")
    .option("--ref-csn <csn>", "reference CSN (from GTS)", parseNat)
    .action(
      withClient(async (client, _g, group: number, texts: string[], o: { refCsn?: number }) => {
        const g = client.group(group);
        const opts = o.refCsn === undefined ? {} : { refCsn: o.refCsn };
        // All in one tick: the client sends them as one batch.
        const results = await Promise.allSettled(texts.map((t) => g.append(t, opts)));
        let failed = false;
        results.forEach((r, i) => {
          if (r.status === "fulfilled") io.out(jsonLine({ group, ...r.value, text: texts[i] }));
          else {
            failed = true;
            io.out(jsonLine({ group, text: texts[i], error: errorJson(r.reason) }));
          }
        });
        if (failed) io.err(`palfctl: some appends failed (see their error lines)\n`);
        return failed ? EXIT_RUNTIME : EXIT_OK;
      }),
    );

  program
    .command("read")
    .description("print committed entries from an LSN up to the committed end")
    .argument("<group>", "group id", parseGroupId)
    .option("--from <lsn>", "first LSN", parseNat, 0)
    .option("--max <n>", "at most this many entries", parsePositive, 100)
    .action(
      withClient(async (client, _g, group: number, o: { from: number; max: number }) => {
        let n = 0;
        for await (const e of client.group(group).entries(o.from, { maxEntries: Math.min(o.max, 1000) })) {
          io.out(entryLine(group, e));
          if (++n >= o.max) break;
        }
        return EXIT_OK;
      }),
    );

  program
    .command("tail")
    .description(
      "print committed entries of a group and keep following until Ctrl-C; with --cdc, the entries of many groups in CSN order",
    )
    .argument("[group]", "group id (not with --cdc)", parseGroupId)
    .option("--from <lsn>", "first LSN", parseNat, 0)
    .option("--poll <ms>", "poll interval once caught up", parsePositive, 200)
    .option("--cdc", "cross-group change stream in commit (CSN) order, up to the watermark frontier")
    .option("--groups <ids>", "with --cdc: these groups (comma-separated) instead of all", parseGroupList)
    .option("--cursor <name>", "with --cdc: resume from this durable cursor and store progress in it")
    .action(
      withClient(
        async (
          client,
          _g,
          group: number | undefined,
          o: { from: number; poll: number; cdc?: boolean; groups?: number[]; cursor?: string },
        ) => {
          const signal = io.signal ?? new AbortController().signal;
          if (o.cdc) {
            if (group !== undefined) {
              io.err("palfctl: tail --cdc takes no group argument (use --groups)\n");
              return EXIT_USAGE;
            }
            const cursor = o.cursor === undefined ? {} : { cursor: o.cursor };
            const reader = await openCdc(
              client,
              o.groups ? { groups: o.groups, ...cursor } : { all: true, ...cursor },
            );
            signal.addEventListener("abort", () => void reader.close(), { once: true });
            let saved = Date.now();
            for await (const e of reader) {
              io.out(entryLine(e.group, e));
              // Progress is stored at most once a second (and at the end): a resume repeats at most that much.
              if (o.cursor !== undefined && Date.now() - saved >= 1000) {
                saved = Date.now();
                await reader.commit();
              }
            }
            if (o.cursor !== undefined) await reader.commit();
            return EXIT_OK;
          }
          if (group === undefined) {
            io.err("palfctl: tail needs a group (or --cdc)\n");
            return EXIT_USAGE;
          }
          for await (const e of client.group(group).tail(o.from, { pollMs: o.poll, signal }))
            io.out(entryLine(group, e));
          return EXIT_OK;
        },
      ),
    );

  program
    .command("timestamp")
    .description("print one timestamp from the cluster's GTS (needs the GTS group, group 0)")
    .action(
      withClient(async (client) => {
        io.out(jsonLine({ gts: await client.timestamp() }));
        return EXIT_OK;
      }),
    );

  program
    .command("locate")
    .description("print the first committed entry with csn >= <csn> (null if none)")
    .argument("<group>", "group id", parseGroupId)
    .argument("<csn>", "commit sequence number", parseNat)
    .action(
      withClient(async (client, _g, group: number, csn: number) => {
        const e = await client.group(group).locate(csn);
        io.out(e === null ? jsonLine({ group, csn, entry: null }) : entryLine(group, e));
        return EXIT_OK;
      }),
    );

  program
    .command("transfer")
    .description("ask a group's leader to hand leadership to <target>")
    .argument("<group>", "group id", parseGroupId)
    .argument("<target>", "node id of the new leader", parseNodeId)
    .action(
      withClient(async (client, _g, group: number, target: string) => {
        await client.transferLeader(group, target);
        io.out(jsonLine({ group, target, requested: true }));
        return EXIT_OK;
      }),
    );

  registerMemberCommands(program, withClient, io);
  registerNodeCommands(program, withClient, io);
  registerCursorCommands(program, withClient, io);
  registerContextCommands(program, io, env);
  registerCompletionCommand(program, io);

  try {
    if (argv.length === 0) {
      io.err(program.helpInformation());
      return EXIT_USAGE;
    }
    await program.parseAsync([...argv], { from: "user" });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.version") return EXIT_OK;
      return EXIT_USAGE;
    }
    io.err(`palfctl: ${describe(e)}\n`);
    return EXIT_RUNTIME;
  } finally {
    sink.end();
  }
}

/**
 * A secret value on the command line shows up in `ps`: the flag is refused (without echoing the value, as
 * commander's own "argument ... is invalid" would); the environment variable still works.
 */
function refusedSecret(
  flags: string,
  instead: string,
  variable: string,
  env: Readonly<Record<string, string | undefined>>,
  io: CliIo,
): Option {
  const o = new Option(flags).hideHelp().argParser(() => {
    const message = `no secrets on the command line (ps shows them): use ${instead} or ${variable}.`;
    io.err(`palfctl: ${flags.split(" ")[0]}: ${message}\n`);
    throw new CommanderError(EXIT_USAGE, "palfctl.secretOnCommandLine", message);
  });
  return env[variable] ? o.default(env[variable]) : o;
}

function connectOptions(g: GlobalOptions, io: CliIo): ConnectOptions {
  const tls =
    g.tlsCa === undefined && g.tlsCert === undefined && g.tlsKey === undefined
      ? undefined
      : {
          ...(g.tlsCa === undefined ? {} : { caFile: g.tlsCa }),
          ...(g.tlsCert === undefined ? {} : { certFile: g.tlsCert }),
          ...(g.tlsKey === undefined ? {} : { keyFile: g.tlsKey }),
        };
  return {
    cluster: parseClusterName(g.cluster),
    nodes: typeof g.nodes === "string" ? parseNodeList(g.nodes) : g.nodes,
    servers: typeof g.nats === "string" ? parseServers(g.nats) : g.nats,
    connection: {
      name: "palfctl",
      ...(g.user === undefined ? {} : { user: g.user }),
      ...(g.pass === undefined ? {} : { pass: g.pass }),
      ...(g.token === undefined ? {} : { token: g.token }),
      ...credentialsFromFiles({
        ...(g.user === undefined ? {} : { user: g.user }),
        ...(g.passFile === undefined ? {} : { passFile: g.passFile }),
        ...(g.tokenFile === undefined ? {} : { tokenFile: g.tokenFile }),
      }),
      ...(tls === undefined ? {} : { tls }),
    },
    requestTimeoutMs: Math.min(g.timeout, 5_000),
    appendTimeoutMs: g.timeout,
    operationTimeoutMs: g.timeout,
    // The transport's log lines go to stderr, never among the JSON lines on stdout.
    log: (level, message) => io.err(`palfctl: [nats ${level}] ${message}\n`),
  };
}

function parseClusterName(value: string): string {
  return parseNodeId(value);
}

function errorJson(e: unknown): unknown {
  return e instanceof PalfError ? e.toJSON() : { message: String((e as Error)?.message ?? e) };
}

function describe(e: unknown): string {
  if (e instanceof PalfError) return `${e.code}: ${e.message}`;
  return (e as Error)?.message ?? String(e);
}
