import fs from "node:fs";
import path from "node:path";
import { type PartitionMap, PartitionState } from "@palf/kv";
import { Packr } from "msgpackr";

const packr = new Packr({ useRecords: false, moreTypes: false });
const FORMAT = 1;

/** A partition's checkpoint on disk: its state at `readFrom` (the next LSN to read). */
export interface PartitionCheckpoint {
  readonly state: PartitionState;
  readonly readFrom: number;
}

const fileOf = (dir: string, p: number) => path.join(dir, `partition-${p}.ckpt`);

/**
 * Writes one partition's checkpoint durably: a temp file, fsync, rename over the old one, fsync of the
 * directory. A crash leaves the old checkpoint or the new one, never a torn one. Asynchronous: a server's
 * event loop keeps answering reads while the disk syncs (fsync on a busy disk takes tens of ms).
 */
export async function saveCheckpoint(
  dir: string,
  map: PartitionMap,
  p: number,
  readFrom: number,
  state: Uint8Array,
): Promise<void> {
  const file = fileOf(dir, p);
  const tmp = `${file}.tmp`;
  // The directory exists after the first save: make it only when the open says it is missing.
  const fh = await fs.promises.open(tmp, "w").catch(async (e: NodeJS.ErrnoException) => {
    if (e.code !== "ENOENT") throw e;
    await fs.promises.mkdir(dir, { recursive: true });
    return fs.promises.open(tmp, "w");
  });
  try {
    await fh.writeFile(packr.pack([FORMAT, map.version, map.groups[p], readFrom, state]));
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fs.promises.rename(tmp, file);
  const dh = await fs.promises.open(dir, "r");
  try {
    await dh.sync();
  } finally {
    await dh.close();
  }
}

/**
 * Every usable checkpoint in `dir` for `map`. One written for another map version or group is ignored (the
 * partition is replayed from the log instead); an unreadable one is reported through `warn` and ignored.
 */
export function loadCheckpoints(
  dir: string,
  map: PartitionMap,
  warn: (msg: string) => void,
): Map<number, PartitionCheckpoint> {
  const out = new Map<number, PartitionCheckpoint>();
  for (let p = 0; p < map.groups.length; p++) {
    const file = fileOf(dir, p);
    if (!fs.existsSync(file)) continue;
    try {
      const a = packr.unpack(fs.readFileSync(file)) as [number, number, number, number, Uint8Array];
      if (!Array.isArray(a) || a[0] !== FORMAT) throw new Error("unknown format");
      if (a[1] !== map.version || a[2] !== map.groups[p]) {
        warn(`${file}: written for map version ${a[1]} / group ${a[2]}, ignored`);
        continue;
      }
      out.set(p, { readFrom: a[3], state: PartitionState.restore(a[4]) });
    } catch (e) {
      warn(`${file}: unreadable checkpoint ignored (${(e as Error).message})`);
    }
  }
  return out;
}
