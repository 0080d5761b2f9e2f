// Child process of crash.test.ts: opens the WAL in argv[2], then appends random records under
// load until it is killed. Protocol on stdout (written synchronously, so a line is out before
// the record it announces can reach the disk):
//   READY                      the WAL is open (recovery done)
//   S <seq> <spec...>          this record is submitted next, to be covered by flush <seq>
//   D <seq>                    flush <seq> resolved: every record with seq <= it is durable
import fs from "node:fs";
import { openShardWal } from "./shard-wal.ts";
import { prng, randomSpec, specToRecord } from "./wal-model.test-support.ts";

export const CRASH_OPTIONS = {
  segmentBytes: 32 * 1024,
  lagSegments: 1,
  copyForwardBytes: 24 * 1024,
  cacheBytes: 8192,
};

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Writes a whole line before returning, waiting out a full pipe (stdout may be non-blocking). */
function out(line: string): void {
  const buf = Buffer.from(`${line}\n`);
  for (let off = 0; off < buf.length; ) {
    try {
      off += fs.writeSync(1, buf, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

async function main(): Promise<void> {
  const [dir, seedArg, roundArg] = process.argv.slice(2);
  if (dir === undefined) throw new Error("usage: crash-child <dir> <seed> <round>");
  const round = Number(roundArg);
  const r = prng(Number(seedArg) * 1000 + round);
  const wal = await openShardWal(dir, CRASH_OPTIONS);
  out("READY");
  let salt = round * 1_000_000;
  let previous: Promise<void> | undefined;
  for (;;) {
    const n = 1 + r.int(12);
    for (let i = 0; i < n; i++) {
      const spec = randomSpec(r, wal, 6, salt++, 3000);
      out(`S ${wal.nextSeq} ${spec.join(" ")}`);
      wal.submit([specToRecord(spec)]);
    }
    const flushed = wal.flush().then((res) => out(`D ${res.seq}`));
    if (previous !== undefined) await previous;
    previous = flushed;
    if (r.chance(0.05)) await wal.recycle();
  }
}

if (process.argv[1]?.endsWith("crash-child.test-support.ts")) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
