// A node's data dir: one process at a time (the LOCK file), and the shard count fixed when it was created.
import fs from "node:fs";
import path from "node:path";
import { readSmallFile, type WalFs, writeSmallFileDurably } from "@palf/storage";
import type { Logger } from "pino";

/**
 * Two processes on one data dir would interleave two WALs into one: refuses while another one lives, else
 * takes the lock and returns its file (removed by a clean stop).
 */
export function lockDataDir(dataDir: string): string {
  const file = path.join(dataDir, "LOCK");
  try {
    const holder = Number(fs.readFileSync(file, "utf8").trim());
    if (Number.isSafeInteger(holder) && holder !== process.pid && processAlive(holder)) {
      throw new Error(`data dir ${dataDir} is in use by process ${holder}`);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  fs.writeFileSync(file, `${process.pid}\n`);
  return file;
}

/**
 * The shard count is fixed when a data dir is created: groups must be found where they were written. The
 * file is written durably (temporary file, fdatasync, rename, directory fsync) before any WAL exists, so a
 * crash right after creation never leaves an empty or torn count next to WALs.
 */
export async function readShardCount(
  wfs: WalFs,
  dataDir: string,
  configured: number | undefined,
  log: Logger,
): Promise<number> {
  const file = path.join(dataDir, "shards");
  const bytes = readSmallFile(wfs, file);
  if (bytes !== undefined) {
    const n = Number(Buffer.from(bytes).toString("utf8").trim());
    if (!Number.isSafeInteger(n) || n < 1) throw new Error(`${file} is corrupt: ${JSON.stringify(n)}`);
    if (configured !== undefined && configured !== n) {
      log.warn({ configured, onDisk: n }, "data dir was created with another shard count; using it");
    }
    return n;
  }
  const n = configured ?? 1;
  await writeSmallFileDurably(wfs, dataDir, "shards", Buffer.from(`${n}\n`));
  return n;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
