/**
 * Choosing what to copy forward. Segments are deleted oldest-first, so one idle group whose
 * meta sits in the oldest segment would otherwise keep every newer segment on disk too.
 * Copy-forward rewrites such a group's whole live state (meta, base, live entries) into the
 * current segment, committed by a SNAPSHOT record, after which the old copies are dead.
 *
 * Only segments at least `lagSegments` behind the current one are considered: a group that
 * advances its base normally frees them by itself, and copying it would only add writes.
 */
import type { GroupIndex, Release } from "./group-index.ts";
import { FLAG_COPY, HEADER_BYTES, Kind } from "./record-codec.ts";
import type { Segment } from "./wal-segment.ts";
import { LocatorKind, type WriteBatch } from "./write-batch.ts";

/**
 * Groups holding the oldest lagging segments, oldest segment first, stopping before the copy
 * would exceed `limitBytes` (all holders of a segment or none: a half-freed segment is useless).
 */
export function pickCopyForward(
  segments: readonly Segment[],
  groups: ReadonlyMap<number, GroupIndex>,
  lagSegments: number,
  limitBytes: number,
): { groups: GroupIndex[]; bytes: number } {
  const chosen = new Set<number>();
  const picked: GroupIndex[] = [];
  let bytes = 0;
  const lastEligible = segments.length - 1 - lagSegments;
  for (let i = 0; i <= lastEligible; i++) {
    const segment = segments[i]!;
    const fresh: GroupIndex[] = [];
    let add = 0;
    for (const group of segment.live.keys()) {
      if (chosen.has(group)) continue;
      const g = groups.get(group);
      if (g === undefined) continue;
      fresh.push(g);
      add += g.liveBytes + HEADER_BYTES; // + the SNAPSHOT record
    }
    if (bytes + add > limitBytes) break;
    bytes += add;
    for (const g of fresh) {
      chosen.add(g.group);
      picked.push(g);
    }
  }
  return { groups: picked, bytes };
}

/**
 * Rewrites a group's whole live state into `batch`, then a SNAPSHOT record, and returns how many records
 * that is. Recovery stages the copies and swaps them in only at the SNAPSHOT record, so a torn copy leaves
 * the old state (still on disk: nothing is deleted before the copy is durable).
 */
export function writeSnapshot(
  batch: WriteBatch,
  g: GroupIndex,
  release: Release,
  read: (generation: number, position: number, size: number) => Uint8Array,
): number {
  const token = -batch.seq;
  const group = g.group;
  if (g.meta !== undefined) {
    const m = g.meta;
    const at = batch.append(Kind.meta, FLAG_COPY, group, 0, 0, 0, m.bytes, m.size);
    batch.locate(LocatorKind.meta, group, 0, at);
    release(group, m.generation);
    m.generation = token;
    m.position = at;
  }
  if (g.base !== undefined) {
    const b = g.base;
    const at = batch.append(Kind.base, FLAG_COPY, group, b.lsn, 0, 0, b.bytes, b.size);
    batch.locate(LocatorKind.base, group, b.lsn, at);
    release(group, b.generation);
    b.generation = token;
    b.position = at;
  }
  for (let i = g.head; i < g.tail; i++) {
    const lsn = g.lsn[i]!;
    const payload = read(g.generation[i]!, g.position[i]!, g.size[i]!);
    const at = batch.append(Kind.entry, FLAG_COPY, group, lsn, g.end[i]!, g.pid[i]!, payload, g.size[i]!);
    batch.locate(LocatorKind.entry, group, lsn, at);
    release(group, g.generation[i]!);
    g.generation[i] = token;
    g.position[i] = at;
  }
  const next = g.next;
  batch.append(Kind.snapshot, 0, group, next ?? 0, 0, next === undefined ? 0 : 1, undefined, HEADER_BYTES);
  return g.count + (g.meta ? 1 : 0) + (g.base ? 1 : 0) + 1;
}
