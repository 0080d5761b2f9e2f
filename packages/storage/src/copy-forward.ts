/**
 * Choosing what to copy forward. Segments are deleted oldest-first, so one idle group whose
 * meta sits in the oldest segment would otherwise keep every newer segment on disk too.
 * Copy-forward rewrites such a group's whole live state (meta, base, live entries) into the
 * current segment, committed by a SNAPSHOT record, after which the old copies are dead.
 *
 * Only segments at least `lagSegments` behind the current one are considered: a group that
 * advances its base normally frees them by itself, and copying it would only add writes.
 */
import type { GroupIndex } from "./group-index.ts";
import { HEADER_BYTES } from "./record-codec.ts";
import type { Segment } from "./wal-segment.ts";

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
