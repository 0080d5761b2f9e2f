/**
 * palfctl: the admin CLI of a palf cluster (status, create/delete groups, append, read, tail, locate,
 * leader transfer, membership, contexts, completion) over NATS, printing one JSON line per result or entry
 * (or a table with -o table).
 *   tsx apps/palfctl/src/main.ts --nats nats://127.0.0.1:4222 status
 * Exit codes: 0 done, 1 runtime error, 2 usage error.
 */
import { runCli } from "./cli.ts";

const stop = new AbortController();
process.on("SIGINT", () => {
  // The first Ctrl-C ends `tail` cleanly; a second one does not wait.
  if (stop.signal.aborted) process.exit(130);
  stop.abort();
});

const code = await runCli(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (text) => process.stderr.write(text),
  signal: stop.signal,
});
process.exitCode = code;
// Do not wait for stray handles (a NATS reconnect timer): everything the command wanted is written.
process.stdout.write("", () => process.exit(code));
