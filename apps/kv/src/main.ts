/**
 * palfkv: the transactional store's server (`palfkv serve`) and client CLI (get, put, del, scan, txn,
 * changes, status, init), one JSON line per result.
 *   tsx apps/kv/src/main.ts --nats nats://127.0.0.1:4222 put a 1
 * Exit codes: 0 done, 1 runtime error, 2 usage error (bad input included).
 */
import { runKvCli } from "./cli.ts";

const stop = new AbortController();
process.on("SIGINT", () => {
  if (stop.signal.aborted) process.exit(130);
  stop.abort();
});
process.on("SIGTERM", () => stop.abort());

const code = await runKvCli(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (text) => process.stderr.write(text),
  signal: stop.signal,
});
process.stdout.write("", () => process.exit(code));
