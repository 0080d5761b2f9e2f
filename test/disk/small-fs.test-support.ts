// A small filesystem for one node's data dir: a tmpfs mounted as root (CI runs as root), else the temp dir's
// own filesystem with a reserve set just below its free space, so a filler of a few tens of MiB fills "the disk"
// either way. Plus the filler that takes the free space below the node's reserve, and its removal.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const MiB = 1024 * 1024;

export interface SmallFs {
  /** Where the node's data dir goes (the node dir is a symlink to it, so the cluster dir stays removable). */
  readonly root: string;
  /** "tmpfs" (mounted, size `sizeMb`) or "shared" (no mount permitted: a reserve near the free space). */
  readonly kind: "tmpfs" | "shared";
  /** The palfd --disk-reserve-mb for the node on it. */
  readonly reserveMb: number;
  readonly describe: string;
  /** Unmounts (tmpfs) and removes the root. */
  release(): void;
}

export function freeBytes(dir: string): number {
  const s = fs.statfsSync(dir);
  return s.bavail * s.bsize;
}

/** Mounts a tmpfs of `sizeMb` when permitted; otherwise the shared fallback (see the file comment). */
export function smallFs(sizeMb: number, reserveMb: number): SmallFs {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "palf-smallfs-"));
  let mounted = false;
  if (process.getuid?.() === 0) {
    try {
      execFileSync("mount", ["-t", "tmpfs", "-o", `size=${sizeMb}m`, "tmpfs", root], { stdio: "pipe" });
      mounted = true;
    } catch {
      // No mount in this container: the fallback below.
    }
  }
  const release = () => {
    if (mounted) {
      try {
        execFileSync("umount", [root], { stdio: "pipe" });
      } catch {
        execFileSync("umount", ["-l", root], { stdio: "pipe" });
      }
    }
    fs.rmSync(root, { recursive: true, force: true });
  };
  if (mounted)
    return { root, kind: "tmpfs", reserveMb, describe: `tmpfs of ${sizeMb} MiB at ${root}`, release };
  // The same filesystem as everything else: the node is `sizeMb - reserveMb` MiB away from its reserve.
  const shared = Math.floor(freeBytes(root) / MiB) - (sizeMb - reserveMb);
  if (shared < 16)
    throw new Error(`not root and only ${Math.floor(freeBytes(root) / MiB)} MiB free in ${root}`);
  return {
    root,
    kind: "shared",
    reserveMb: shared,
    describe: `no tmpfs (not root or mount refused): reserve ${shared} MiB on ${root}'s filesystem`,
    release,
  };
}

/**
 * Writes `file` in 1 MiB chunks until free space is at most `targetFree` bytes (or ENOSPC); returns its size.
 * fsync at the end so the space is really taken (tmpfs takes it at write).
 */
export function fillUntil(file: string, targetFree: number): number {
  const chunk = Buffer.alloc(MiB, 0x5a);
  const fd = fs.openSync(file, "a");
  let written = 0;
  try {
    while (freeBytes(path.dirname(file)) > targetFree) {
      const want = Math.min(MiB, freeBytes(path.dirname(file)) - targetFree);
      try {
        written += fs.writeSync(fd, chunk, 0, Math.max(4096, want));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === "ENOSPC") break;
        throw err;
      }
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  return written;
}
