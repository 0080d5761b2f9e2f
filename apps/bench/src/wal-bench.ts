// `pnpm bench wal`: drives one shard WAL like a node's loop would and compares it with a
// plain write + fdatasync loop of the same batch sizes on the same disk.
//
// Each loop turn submits one entry record for every group, then calls flush() and awaits the
// previous turn's flush: while flush k is writing, turn k + 1 is already being encoded
// (pipelined group commit, one fdatasync per turn). `--depth n` lets n turns' flushes be
// outstanding instead of one (later turns then share a flush). Every 64 turns each group advances its
// base so old segments are recycled, as a node that trims its logs would.
//
// Prints the raw-loop baseline as an earlier JSON line, then one final JSON line:
// {"recordsPerS","fsyncsPerS","MBps","p99FlushMs", ..., "rawLoop": {...}}.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { openShardWal, type WalRecord } from "@palf/storage";
import { type FlagSpec, positiveInt, UsageError } from "./flags.ts";

const HEADER_BYTES = 44; // record header of the WAL, to give the raw loop the same batch bytes
const SEGMENT_BYTES = 64 * 1024 * 1024;
const BASE_EVERY_TURNS = 64;
const KEEP_ENTRIES = 64;

/** The flags of `wal` (parsed by parseArgs here, listed by `--help`). */
export const flags = {
  groups: { type: "string", default: "1000", help: "groups writing one entry each per loop turn", arg: "n" },
  size: { type: "string", default: "256", help: "entry payload bytes", arg: "bytes" },
  seconds: { type: "string", default: "10", help: "measuring time", arg: "s" },
  dir: { type: "string", help: "directory for the WAL (default: a temp dir)", arg: "path" },
  depth: { type: "string", default: "1", help: "loop turns whose flushes may be outstanding", arg: "n" },
} as const satisfies FlagSpec;

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: flags,
    strict: true,
  });
  const groups = positiveInt("groups", values.groups);
  const size = positiveInt("size", values.size);
  const seconds = Number(values.seconds);
  if (!(seconds > 0)) throw new UsageError("--seconds must be a positive number");
  const ownDir = values.dir === undefined;
  const dir = values.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "palf-wal-bench-"));
  try {
    const rawLoop = await runRawLoop(
      path.join(dir, "raw"),
      groups * (size + HEADER_BYTES),
      groups,
      size,
      seconds,
    );
    console.log(JSON.stringify({ rawLoop }));
    const wal = await runWal(
      path.join(dir, "wal"),
      groups,
      size,
      seconds,
      positiveInt("depth", values.depth),
    );
    console.log(JSON.stringify({ ...wal, rawLoop }));
  } finally {
    if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function runWal(dir: string, groups: number, size: number, seconds: number, depth: number) {
  fs.rmSync(dir, { recursive: true, force: true });
  const wal = await openShardWal(dir, { segmentBytes: SEGMENT_BYTES });
  const payload = new Uint8Array(size);
  for (let i = 0; i < size; i++) payload[i] = (i * 131 + 7) & 0xff;
  // The WAL copies bytes on submit and keeps no reference to the record objects, so one
  // array of records is reused for every turn (a node's records would be fresh; the WAL's
  // cost is what is measured here).
  const entries: Array<WalRecord & { kind: "entry" }> = [];
  for (let g = 0; g < groups; g++)
    entries.push({ kind: "entry", group: g, lsn: 0, end: size, pid: 1, bytes: payload });
  const baseInfo = new Uint8Array(16);

  const latencies: number[] = [];
  let durableRecords = 0;
  let turn = 0;
  // Flushes of the last `depth` turns may be outstanding; older ones are awaited.
  const outstanding: Promise<unknown>[] = [];
  const start = performance.now();
  const deadline = start + seconds * 1000;
  while (performance.now() < deadline) {
    if (turn > 0) {
      for (const e of entries) {
        e.lsn = e.end;
        e.end += size;
      }
    }
    wal.submit(entries);
    if (turn % BASE_EVERY_TURNS === BASE_EVERY_TURNS - 1) {
      const bases: WalRecord[] = [];
      for (const e of entries) {
        bases.push({
          kind: "base",
          group: e.group,
          lsn: Math.max(0, e.end - KEEP_ENTRIES * size),
          bytes: baseInfo,
        });
      }
      wal.submit(bases);
    }
    const called = performance.now();
    const flushed = wal.flush().then(() => {
      latencies.push(performance.now() - called);
      durableRecords += groups;
    });
    outstanding.push(flushed);
    if (outstanding.length > depth) await outstanding.shift();
    turn++;
  }
  await Promise.all(outstanding);
  const elapsed = (performance.now() - start) / 1000;
  const stats = wal.stats();
  await wal.close();
  fs.rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  return {
    recordsPerS: Math.round(durableRecords / elapsed),
    fsyncsPerS: Math.round(stats.flushes / elapsed),
    MBps: round((durableRecords * size) / elapsed / 1e6),
    p99FlushMs: round(quantile(latencies, 0.99)),
    p50FlushMs: round(quantile(latencies, 0.5)),
    diskMBps: round(stats.bytesWritten / elapsed / 1e6),
    recordsPerFlush: Math.round(durableRecords / Math.max(1, stats.flushes)),
    depth,
    groups,
    size,
    seconds: round(elapsed),
  };
}

/** A plain loop: write one batch of the same size, fdatasync, repeat; new file every 64 MiB. */
async function runRawLoop(dir: string, batchBytes: number, groups: number, size: number, seconds: number) {
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const buf = Buffer.alloc(batchBytes, 0x5a);
  let file = 0;
  let fd = fs.openSync(path.join(dir, `raw-${file}`), "wx");
  let position = 0;
  const latencies: number[] = [];
  let syncs = 0;
  const start = performance.now();
  const deadline = start + seconds * 1000;
  while (performance.now() < deadline) {
    if (position + batchBytes > SEGMENT_BYTES) {
      fs.closeSync(fd);
      fs.unlinkSync(path.join(dir, `raw-${file}`));
      file++;
      fd = fs.openSync(path.join(dir, `raw-${file}`), "wx");
      position = 0;
    }
    const t = performance.now();
    await new Promise<void>((resolve, reject) =>
      fs.write(fd, buf, 0, batchBytes, position, (err) => (err ? reject(err) : resolve())),
    );
    await new Promise<void>((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
    latencies.push(performance.now() - t);
    position += batchBytes;
    syncs++;
  }
  const elapsed = (performance.now() - start) / 1000;
  fs.closeSync(fd);
  fs.rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  return {
    recordsPerS: Math.round((syncs * groups) / elapsed),
    fsyncsPerS: Math.round(syncs / elapsed),
    MBps: round((syncs * groups * size) / elapsed / 1e6),
    p99FlushMs: round(quantile(latencies, 0.99)),
    p50FlushMs: round(quantile(latencies, 0.5)),
    batchBytes,
  };
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
