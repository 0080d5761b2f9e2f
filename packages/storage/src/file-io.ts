/**
 * The few asynchronous file operations the WAL needs, on Node's callback API (lighter than
 * fs/promises on the hot path: one write and one fdatasync per flush).
 */
import fs from "node:fs";

/** Writes all of buf[offset, offset + length) at `position`, looping over short writes. */
export function writeAll(
  fd: number,
  buf: Uint8Array,
  offset: number,
  length: number,
  position: number,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number, len: number, pos: number): void => {
      fs.write(fd, buf, off, len, pos, (err, written) => {
        if (err) reject(err);
        else if (written === len) resolve();
        else if (written === 0) reject(new Error(`write made no progress at file position ${pos}`));
        else step(off + written, len - written, pos + written);
      });
    };
    step(offset, length, position);
  });
}

export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

/** Makes a created, renamed or deleted directory entry durable. */
export function fsyncDir(dir: string): Promise<void> {
  return new Promise((resolve, reject) => {
    fs.open(dir, "r", (err, fd) => {
      if (err) return reject(err);
      fs.fsync(fd, (syncErr) => {
        fs.close(fd, () => (syncErr ? reject(syncErr) : resolve()));
      });
    });
  });
}

export function fsyncDirSync(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
