/**
 * Promise wrappers over the WalFs callbacks the WAL's write path uses (one write and one fdatasync per
 * flush: the callback API is lighter than fs/promises).
 */
import type { WalFs } from "./wal-fs.ts";

export { writeAll } from "./wal-fs.ts";

export function fdatasync(wfs: WalFs, fd: number): Promise<void> {
  return new Promise((resolve, reject) => wfs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

/** Makes a created, renamed or deleted directory entry durable. */
export function fsyncDir(wfs: WalFs, dir: string): Promise<void> {
  return new Promise((resolve, reject) => wfs.fsyncDir(dir, (err) => (err ? reject(err) : resolve())));
}
