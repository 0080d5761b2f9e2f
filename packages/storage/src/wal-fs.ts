/**
 * The file system as the WAL (and the node's few small files) use it: exactly these operations, so a
 * simulated disk can stand in for node:fs in the whole-node simulator. Startup (recovery) and cache-miss
 * reads are synchronous; everything on the write path is asynchronous with Node-style callbacks (lighter
 * than fs/promises: one write and one fdatasync per flush). The real implementation is `realWalFs`.
 */
import fs from "node:fs";

export type FsCallback = (err: Error | null) => void;

export interface WalFs {
  /** Whether a file or directory exists at `path`. */
  exists(path: string): boolean;
  /** Creates a directory and any missing parents (mkdir -p); its entry is durable only after `fsyncDirSync` of its parent. */
  mkdirp(path: string): void;
  /** Names in a directory (any order). */
  readdir(dir: string): string[];
  /** Opens an existing file for reading and writing. */
  openSync(path: string): number;
  /** Creates a new empty file for reading and writing (fails if it exists); the entry needs a directory fsync. */
  create(path: string, cb: (err: Error | null, fd: number) => void): void;
  /** Size of an open file in bytes. */
  size(fd: number): number;
  /** Reads up to `length` bytes at `position` into buf[offset..]; returns how many (0 at end of file). */
  readSync(fd: number, buf: Uint8Array, offset: number, length: number, position: number): number;
  /** Writes buf[offset, offset + length) at `position`; `written` may be short. Not durable before fdatasync. */
  write(
    fd: number,
    buf: Uint8Array,
    offset: number,
    length: number,
    position: number,
    cb: (err: Error | null, written: number) => void,
  ): void;
  /** Makes the file's written data durable. An error is final: the caller must never retry it. */
  fdatasync(fd: number, cb: FsCallback): void;
  /** Cuts the file to `length` bytes (recovery, torn tails). */
  ftruncateSync(fd: number, length: number): void;
  /** fsync of an open file, synchronously (recovery, after ftruncate). */
  fsyncSync(fd: number): void;
  /** Renames a file; the change needs a directory fsync to be durable. */
  rename(from: string, to: string, cb: FsCallback): void;
  /** Removes a file's entry; the change needs a directory fsync to be durable. */
  unlink(path: string, cb: FsCallback): void;
  /** Makes the directory's entries (created, renamed, removed files) durable. */
  fsyncDir(dir: string, cb: FsCallback): void;
  fsyncDirSync(dir: string): void;
  closeSync(fd: number): void;
}

/** WalFs on node:fs, the callback API on the write path. */
export const realWalFs: WalFs = {
  exists: (p) => fs.existsSync(p),
  mkdirp: (p) => {
    fs.mkdirSync(p, { recursive: true });
  },
  readdir: (dir) => fs.readdirSync(dir),
  openSync: (p) => fs.openSync(p, "r+"),
  create: (p, cb) => fs.open(p, "wx+", cb),
  size: (fd) => fs.fstatSync(fd).size,
  readSync: (fd, buf, offset, length, position) => fs.readSync(fd, buf, offset, length, position),
  write: (fd, buf, offset, length, position, cb) => fs.write(fd, buf, offset, length, position, cb),
  fdatasync: (fd, cb) => fs.fdatasync(fd, cb),
  ftruncateSync: (fd, length) => fs.ftruncateSync(fd, length),
  fsyncSync: (fd) => fs.fsyncSync(fd),
  rename: (from, to, cb) => fs.rename(from, to, cb),
  unlink: (p, cb) => fs.unlink(p, cb),
  fsyncDir: (dir, cb) => {
    fs.open(dir, "r", (err, fd) => {
      if (err) return cb(err);
      fs.fsync(fd, (syncErr) => {
        fs.close(fd, () => cb(syncErr));
      });
    });
  },
  fsyncDirSync: (dir) => {
    const fd = fs.openSync(dir, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  },
  closeSync: (fd) => fs.closeSync(fd),
};

/** Whole content of a small file, or undefined if there is none. */
export function readSmallFile(wfs: WalFs, file: string): Uint8Array | undefined {
  if (!wfs.exists(file)) return undefined;
  const fd = wfs.openSync(file);
  try {
    const size = wfs.size(fd);
    const buf = new Uint8Array(size);
    let got = 0;
    while (got < size) {
      const n = wfs.readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    return buf.subarray(0, got);
  } finally {
    wfs.closeSync(fd);
  }
}

/**
 * Replaces a small file atomically and durably: write a temporary file, fdatasync it, rename it over the
 * old one, fsync the directory. After a crash the file holds either the old or the new bytes, never a torn mix.
 */
export async function writeSmallFileDurably(
  wfs: WalFs,
  dir: string,
  name: string,
  bytes: Uint8Array,
): Promise<void> {
  const file = `${dir}/${name}`;
  const tmp = `${file}.tmp`;
  const call = (fn: (cb: FsCallback) => void) =>
    new Promise<void>((resolve, reject) => fn((err) => (err ? reject(err) : resolve())));
  if (wfs.exists(tmp)) await call((cb) => wfs.unlink(tmp, cb));
  const fd = await new Promise<number>((resolve, reject) =>
    wfs.create(tmp, (err, fd) => (err ? reject(err) : resolve(fd))),
  );
  try {
    await writeAll(wfs, fd, bytes, 0, bytes.length, 0);
    await call((cb) => wfs.fdatasync(fd, cb));
  } finally {
    wfs.closeSync(fd);
  }
  await call((cb) => wfs.rename(tmp, file, cb));
  await call((cb) => wfs.fsyncDir(dir, cb));
}

/** Writes all of buf[offset, offset + length) at `position`, looping over short writes. */
export function writeAll(
  wfs: WalFs,
  fd: number,
  buf: Uint8Array,
  offset: number,
  length: number,
  position: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number, len: number, pos: number): void => {
      wfs.write(fd, buf, off, len, pos, (err, written) => {
        if (err) reject(err);
        else if (written === len) resolve();
        else if (written === 0) reject(new Error(`write made no progress at file position ${pos}`));
        else step(off + written, len - written, pos + written);
      });
    };
    step(offset, length, position);
  });
}
