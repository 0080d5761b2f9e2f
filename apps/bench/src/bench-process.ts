// Load from more than one process, so that the bench's own event loop is not what a run measures: the parent
// spawns `palf bench <name> --worker <spec>` children, each says it is ready, gets one start line on stdin
// and answers with one result line on stdout (JSON lines throughout).
import { spawn } from "node:child_process";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const mainTs = fileURLToPath(new URL("./main.ts", import.meta.url));

export interface BenchProcess<Start, Result> {
  /** Sends the start line; resolves with the child's result once it has exited cleanly. */
  run(start: Start): Promise<Result>;
  kill(): void;
}

/** Spawns one worker of bench `name` and resolves once it has said it is ready. */
export function spawnBenchProcess<Start, Result>(
  name: string,
  spec: unknown,
  label: string,
): Promise<BenchProcess<Start, Result>> {
  const child = spawn(process.execPath, ["--import", "tsx", mainTs, name, "--worker", JSON.stringify(spec)], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  let ready: () => void = () => {};
  let result: Result | undefined;
  readline.createInterface({ input: child.stdout! }).on("line", (line) => {
    const msg = JSON.parse(line) as { ready: true } | { result: Result };
    if ("ready" in msg) ready();
    else result = msg.result;
  });
  const exited = new Promise<Result>((resolve, reject) => {
    child.once("close", (code) => {
      if (code === 0 && result !== undefined) resolve(result);
      else reject(new Error(`${label} exited with ${code}`));
    });
  });
  exited.catch(() => {}); // observed through the ready race or run()
  const handle: BenchProcess<Start, Result> = {
    run(start) {
      child.stdin!.end(`${JSON.stringify(start)}\n`);
      return exited;
    },
    kill: () => child.kill("SIGKILL"),
  };
  return Promise.race([
    new Promise<BenchProcess<Start, Result>>((resolve) => {
      ready = () => resolve(handle);
    }),
    exited.then(() => Promise.reject(new Error(`${label} ended before it was ready`))),
  ]);
}

/** The worker's side: says ready, waits for the start line, runs, writes the result line and exits. */
export async function serveBenchProcess<Start, Result>(
  run: (start: Start) => Promise<Result>,
): Promise<void> {
  process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
  const first = await readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]().next();
  const result = await run(JSON.parse(String(first.value)) as Start);
  process.stdout.write(`${JSON.stringify({ result })}\n`, () => process.exit(0));
}
