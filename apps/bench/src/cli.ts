// `palf bench <name> [flags]`: commander in front of the bench modules. Only the chosen bench is
// imported; its exported flags become the subcommand's options, so `--help` works for each one and an
// unknown or malformed flag exits 2 before any cluster starts. The bench then parses its own argv.
import { Command, CommanderError, Option } from "commander";
import { type BenchEntry, type BenchModule, benches as defaultBenches } from "./benches.ts";
import { type FlagSpec, UsageError } from "./flags.ts";

export const EXIT_OK = 0;
/** The bench failed while running (a cluster it cannot reach, a refused login...). */
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;

export interface BenchCliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const stdio: BenchCliIo = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
};

/** Runs `palf bench` with argv (after "bench"); resolves with the exit code (0, or 2 for bad usage). */
export async function runBenchCli(
  argv: readonly string[],
  io: BenchCliIo = stdio,
  table: readonly BenchEntry[] = defaultBenches,
  prog = "palf bench",
): Promise<number> {
  const program = new Command(prog)
    .description("Benchmarks of palf; each ends with one JSON line on stdout.")
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .showHelpAfterError(`(run ${prog} <name> --help for its flags)`)
    .allowExcessArguments(false);
  const chosen = table.find((b) => b.name === argv[0]);
  let mod: BenchModule | undefined;
  if (chosen) mod = await chosen.load();
  let run: (() => Promise<void>) | undefined;
  for (const b of table) {
    const cmd = program.command(b.name).description(b.summary).exitOverride();
    if (b !== chosen || !mod) continue;
    const m = mod;
    if (m.flags) addFlags(cmd, m.flags);
    else cmd.allowUnknownOption().allowExcessArguments();
    cmd.action(() => {
      run = () => m.main(argv.slice(1));
    });
  }
  try {
    if (argv.length === 0) {
      io.err(program.helpInformation());
      return EXIT_USAGE;
    }
    await program.parseAsync([...argv], { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError)
      return e.code === "commander.helpDisplayed" || e.code === "commander.version" ? EXIT_OK : EXIT_USAGE;
    throw e;
  }
  if (!run) return EXIT_OK;
  try {
    await run();
  } catch (e) {
    const usage = e instanceof UsageError;
    // PALF_DEBUG=1 shows where an unexpected failure came from.
    const text =
      !usage && process.env.PALF_DEBUG ? String((e as Error).stack ?? e) : String((e as Error).message ?? e);
    io.err(`${prog} ${chosen!.name}: ${text}\n`);
    return usage ? EXIT_USAGE : EXIT_RUNTIME;
  }
  return EXIT_OK;
}

/** The bench's flags as commander options (values are checked again by the bench itself). */
function addFlags(cmd: Command, flags: FlagSpec): void {
  for (const [name, f] of Object.entries(flags)) {
    const opt = new Option(f.type === "boolean" ? `--${name}` : `--${name} <${f.arg ?? "value"}>`, f.help);
    if (f.default !== undefined && f.type === "string") opt.default(f.default);
    if (f.hidden) opt.hideHelp();
    cmd.addOption(opt);
  }
}
