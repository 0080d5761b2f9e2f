// `pnpm bench <name> [flags]` = `palf bench <name> [flags]`: see cli.ts and benches.ts.
import { runBenchCli } from "./cli.ts";

process.exitCode = await runBenchCli(process.argv.slice(2));
