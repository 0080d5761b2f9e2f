// `palf <command>`: today only `palf bench` (the load tester and the other benchmarks, see benches.ts).
import { runBenchCli } from "./cli.ts";

const [command, ...rest] = process.argv.slice(2);
if (command === "bench") process.exitCode = await runBenchCli(rest);
else {
  process.stderr.write(
    command === undefined || command === "--help" || command === "-h"
      ? "usage: palf bench <name> [flags]   (palf bench --help lists the benchmarks)\n"
      : `palf: unknown command ${JSON.stringify(command)}; try: palf bench --help\n`,
  );
  process.exitCode = command === "--help" || command === "-h" ? 0 : 2;
}
