/**
 * The per-group index follows the records: `applyRecord` queues a submitted record in the open write batch
 * and updates its group's index at once (the slot points into the batch), and `placeWritten` points the
 * slots at the file once the batch is durable.
 */
import { WalError } from "./errors.ts";
import { GroupIndex, type Release } from "./group-index.ts";
import { copyBytes, FLAG_RESET, HEADER_BYTES, Kind } from "./record-codec.ts";
import type { SegmentFiles } from "./segment-files.ts";
import type { WalRecord } from "./types.ts";
import { LocatorKind, type WriteBatch } from "./write-batch.ts";

/** Queues `r` in `batch` and indexes it (throws LSN_NOT_FOLLOWING or INVALID_RECORD and queues nothing). */
export function applyRecord(
  groups: Map<number, GroupIndex>,
  batch: WriteBatch,
  r: WalRecord,
  release: Release,
): void {
  const seq = batch.seq;
  switch (r.kind) {
    case "entry": {
      let g = groups.get(r.group);
      if (g?.next !== undefined && r.lsn !== g.next) {
        throw new WalError(
          "LSN_NOT_FOLLOWING",
          `entry of group ${r.group} at lsn ${r.lsn}; its log ends at ${g.next}`,
        );
      }
      if (g === undefined) g = createGroup(groups, r.group);
      const size = HEADER_BYTES + r.bytes.byteLength;
      const at = batch.append(Kind.entry, 0, r.group, r.lsn, r.end, r.pid, r.bytes, size);
      batch.locate(LocatorKind.entry, r.group, r.lsn, at);
      g.push(r.lsn, r.end, r.pid, -seq, at, size);
      break;
    }
    case "truncate": {
      const g = groups.get(r.group);
      if (g?.base !== undefined && r.lsn < g.base.lsn) {
        throw new WalError(
          "INVALID_RECORD",
          `truncate of group ${r.group} at ${r.lsn} is below its base ${g.base.lsn}`,
        );
      }
      batch.append(Kind.truncate, 0, r.group, r.lsn, 0, 0, undefined, HEADER_BYTES);
      g?.truncateFrom(r.lsn, release);
      break;
    }
    case "meta": {
      const g = groups.get(r.group) ?? createGroup(groups, r.group);
      const size = HEADER_BYTES + r.bytes.byteLength;
      const at = batch.append(Kind.meta, 0, r.group, 0, 0, 0, r.bytes, size);
      batch.locate(LocatorKind.meta, r.group, 0, at);
      g.setMeta({ bytes: copyBytes(r.bytes), generation: -seq, position: at, size }, release);
      break;
    }
    case "base": {
      const existing = groups.get(r.group);
      if (existing?.base !== undefined && r.lsn < existing.base.lsn) {
        throw new WalError(
          "INVALID_RECORD",
          `base of group ${r.group} moves back to ${r.lsn} from ${existing.base.lsn}`,
        );
      }
      const g = existing ?? createGroup(groups, r.group);
      const size = HEADER_BYTES + r.bytes.byteLength;
      const reset = r.reset === true;
      const at = batch.append(Kind.base, reset ? FLAG_RESET : 0, r.group, r.lsn, 0, 0, r.bytes, size);
      batch.locate(LocatorKind.base, r.group, r.lsn, at);
      g.setBase(
        { lsn: r.lsn, bytes: copyBytes(r.bytes), generation: -seq, position: at, size },
        release,
        reset,
      );
      break;
    }
    case "drop-group": {
      batch.append(Kind.dropGroup, 0, r.group, 0, 0, 0, undefined, HEADER_BYTES);
      const g = groups.get(r.group);
      if (g !== undefined) {
        g.releaseAll(release);
        groups.delete(r.group);
      }
      break;
    }
  }
}

function createGroup(groups: Map<number, GroupIndex>, group: number): GroupIndex {
  const g = new GroupIndex(group);
  groups.set(group, g);
  return g;
}

/** Points the index at the records a durable batch wrote, if they are still live. */
export function placeWritten(
  groups: Map<number, GroupIndex>,
  batch: WriteBatch,
  segments: SegmentFiles,
): void {
  const token = -batch.seq;
  let c = 0;
  const n = batch.locOff.length;
  for (let i = 0; i < n; i++) {
    const off = batch.locOff[i]!;
    while (c + 1 < batch.chunkStart.length && batch.chunkStart[c + 1]! <= off) c++;
    const g = groups.get(batch.locGroup[i]!);
    if (g === undefined) continue;
    const generation = batch.chunkGen[c]!;
    const position = batch.chunkPos[c]! + off - batch.chunkStart[c]!;
    const kind = batch.locKind[i];
    // (token, off) identifies exactly this record: a slot truncated, replaced or copied
    // forward since then no longer carries it.
    if (kind === LocatorKind.entry) {
      const slot = g.find(batch.locLsn[i]!);
      if (slot < 0 || g.generation[slot] !== token || g.position[slot] !== off) continue;
      g.generation[slot] = generation;
      g.position[slot] = position;
    } else {
      const stored = kind === LocatorKind.meta ? g.meta : g.base;
      if (stored === undefined || stored.generation !== token || stored.position !== off) continue;
      stored.generation = generation;
      stored.position = position;
    }
    segments.get(generation)!.acquire(g.group);
  }
}
