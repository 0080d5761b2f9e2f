/**
 * Rebuilds the WAL's in-memory state from its segment files on open.
 *
 * Segments are replayed oldest first, record by record, with the same GroupIndex operations
 * the live path uses. What counts as damage:
 * - a sealed segment (every one but the newest) must parse cleanly up to its seal record;
 *   anything else is CORRUPT (it was fsynced before a newer segment existed);
 * - in the newest segment, the first bad record ends the log if no valid record of this
 *   generation follows it: that is a torn tail of a write that was never acknowledged, and
 *   the file is cut there. A valid record after a bad one means the middle was damaged:
 *   CORRUPT, naming file and offset. Never a silent skip.
 */
import path from "node:path";
import { WalError } from "./errors.ts";
import { GroupIndex, type Release } from "./group-index.ts";
import {
  copyBytes,
  decodeHeader,
  FLAG_COPY,
  FLAG_RESET,
  HEADER_BYTES,
  Kind,
  type RecordHeader,
  validRecordAt,
  viewOf,
} from "./record-codec.ts";
import type { TornTailCut } from "./types.ts";
import type { WalFs } from "./wal-fs.ts";
import { parseSegmentFileName, Segment, segmentFileName } from "./wal-segment.ts";

export interface Recovered {
  /** Oldest first; may be empty. Every one is open read-write. */
  segments: Segment[];
  groups: Map<number, GroupIndex>;
  /** Set when a torn tail was cut off the newest segment. */
  cutTail?: TornTailCut;
}

const noRelease: Release = () => {};

export function recover(dir: string, fs: WalFs): Recovered {
  const gens = fs
    .readdir(dir)
    .map((name) => parseSegmentFileName(name))
    .filter((g): g is number => g !== undefined)
    .sort((a, b) => a - b);
  const replay = new Replay();
  const segments: Segment[] = [];
  let cutTail: Recovered["cutTail"];
  try {
    for (let i = 0; i < gens.length; i++) {
      const generation = gens[i]!;
      const isNewest = i === gens.length - 1;
      const segment = openSegment(fs, dir, generation);
      segments.push(segment);
      const cut = scanSegment(fs, segment, isNewest, replay);
      if (cut !== undefined) cutTail = cut;
    }
  } catch (err) {
    for (const s of segments) fs.closeSync(s.fd);
    throw err;
  }
  const groups = replay.finish();
  const byGen = new Map(segments.map((s) => [s.generation, s]));
  for (const g of groups.values()) {
    g.forEachGeneration((gen) => byGen.get(gen)?.acquire(g.group));
  }
  return cutTail === undefined ? { segments, groups } : { segments, groups, cutTail };
}

function openSegment(fs: WalFs, dir: string, generation: number): Segment {
  const fd = fs.openSync(path.join(dir, segmentFileName(generation)));
  return new Segment(dir, generation, fd, 0, fs.size(fd));
}

/** Replays one segment; returns the cut it made to a torn tail, if any. */
function scanSegment(fs: WalFs, segment: Segment, isNewest: boolean, replay: Replay): Recovered["cutTail"] {
  const size = segment.fileSize;
  const buf = Buffer.allocUnsafe(size);
  let got = 0;
  while (got < size) {
    const n = fs.readSync(segment.fd, buf, got, size - got, got);
    if (n === 0) break;
    got += n;
  }
  const view = viewOf(buf);
  const gen = segment.generation;
  const file = path.basename(segment.path);
  let at = 0;
  while (at < got) {
    const n = validRecordAt(buf, view, at, got, gen);
    if (n === 0) break;
    const h = decodeHeader(view, at);
    if (h.kind === Kind.seal) {
      segment.sealed = true;
      at += n;
      break;
    }
    replay.apply(h, gen, at, buf.subarray(at + HEADER_BYTES, at + n), segment.path);
    at += n;
  }
  segment.writeOffset = at;
  if (segment.sealed) return undefined;
  if (!isNewest) {
    throw new WalError(
      "CORRUPT",
      at < got
        ? `bad record in sealed segment ${file} at offset ${at}`
        : `segment ${file} is not the newest but ends without a seal record at offset ${at}`,
      { file: segment.path, offset: at },
    );
  }
  if (at === got) return undefined;
  // A bad record in the newest segment: a torn tail only if nothing valid follows it.
  for (let p = at + 1; p + HEADER_BYTES <= got; p++) {
    if (validRecordAt(buf, view, p, got, gen) !== 0) {
      throw new WalError(
        "CORRUPT",
        `bad record in ${file} at offset ${at} is followed by a valid record at offset ${p}`,
        { file: segment.path, offset: at },
      );
    }
  }
  // Cut so the torn bytes can never combine with later appends into something that parses.
  fs.ftruncateSync(segment.fd, at);
  fs.fsyncSync(segment.fd);
  segment.fileSize = at;
  return { file: segment.path, offset: at, droppedBytes: got - at };
}

/** Applies records in log order; copy-forward records are staged until their snapshot commits. */
class Replay {
  private readonly groups = new Map<number, GroupIndex>();
  private readonly staging = new Map<number, GroupIndex>();

  apply(h: RecordHeader, gen: number, at: number, payload: Buffer, file: string): void {
    const size = HEADER_BYTES + h.length;
    const target = (h.flags & FLAG_COPY) !== 0 ? this.staging : this.groups;
    switch (h.kind) {
      case Kind.entry: {
        const g = getOrCreate(target, h.group);
        // Live submits guarantee this; a mismatch means the log itself is inconsistent.
        if (g.count > 0 && g.next !== h.lsn) {
          throw new WalError(
            "CORRUPT",
            `entry of group ${h.group} at lsn ${h.lsn} does not follow its end ${g.next} (${path.basename(file)} offset ${at})`,
            { file, offset: at },
          );
        }
        g.push(h.lsn, h.end, h.pid, gen, at, size);
        return;
      }
      case Kind.truncate:
        target.get(h.group)?.truncateFrom(h.lsn, noRelease);
        return;
      case Kind.meta:
        getOrCreate(target, h.group).setMeta(
          { bytes: copyBytes(payload), generation: gen, position: at, size },
          noRelease,
        );
        return;
      case Kind.base:
        getOrCreate(target, h.group).setBase(
          { lsn: h.lsn, bytes: copyBytes(payload), generation: gen, position: at, size },
          noRelease,
          (h.flags & FLAG_RESET) !== 0,
        );
        return;
      case Kind.dropGroup:
        this.groups.delete(h.group);
        return;
      case Kind.snapshot: {
        const staged = this.staging.get(h.group) ?? new GroupIndex(h.group);
        this.staging.delete(h.group);
        // The snapshot record carries the group's tail LSN (pid = 1 when it had one).
        if (staged.count === 0) staged.next = h.pid === 1 ? h.lsn : undefined;
        this.groups.set(h.group, staged);
        return;
      }
      default:
        throw new WalError(
          "CORRUPT",
          `unknown record kind ${h.kind} in ${path.basename(file)} at offset ${at}`,
          {
            file,
            offset: at,
          },
        );
    }
  }

  /** Final group states; staged snapshots that never committed (a torn tail) are discarded. */
  finish(): Map<number, GroupIndex> {
    return this.groups;
  }
}

function getOrCreate(map: Map<number, GroupIndex>, group: number): GroupIndex {
  let g = map.get(group);
  if (g === undefined) {
    g = new GroupIndex(group);
    map.set(group, g);
  }
  return g;
}
