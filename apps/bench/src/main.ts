// Entry point of `pnpm bench <name> [flags]`: each benchmark lives in `<name>-bench.ts` and prints one JSON line.
import { UsageError } from "./flags.ts";

const name = process.argv[2];
const known = ["core", "wal", "append", "idle", "failover", "gts", "cdc", "kv"];
if (!name || !known.includes(name)) {
  console.error(`usage: pnpm bench <${known.join("|")}> [flags]`);
  process.exit(2);
}
const mod = (await import(`./${name}-bench.ts`)) as { main(argv: string[]): Promise<void> };
try {
  await mod.main(process.argv.slice(3));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  console.error(`pnpm bench ${name}: ${err.message}`);
  process.exit(2);
}
