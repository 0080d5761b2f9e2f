import fs from "node:fs";
import type { Replica } from "@palf/core";
import type { WalFs } from "@palf/storage";
import type { AppendItem, AppendOutcomeWire } from "@palf/transport";
import { type FreeSpace, freeSpaceOf } from "./disk-space-watch.ts";

/**
 * Timings only the node sees as they happen, for a host that exports them (palfd's Prometheus metrics).
 * Counters the node keeps anyway are read from `PalfNode.status()` at scrape time instead; these hooks are
 * called at most once per loop turn, per fdatasync or per append request, never per entry, and are handed
 * objects that exist anyway (no allocation on their behalf).
 */
export interface NodeObserver {
  /** One shard loop turn took `ms` of wall time. */
  turn?(shard: number, ms: number): void;
  /** One fdatasync of a shard's WAL took `ms` (segment rollovers included). */
  fsync?(shard: number, ms: number): void;
  /** One append request was answered `ms` after it arrived: one outcome per item, in order. */
  appended?(
    shard: number,
    items: readonly AppendItem[],
    outcomes: readonly AppendOutcomeWire[],
    ms: number,
  ): void;
}

/** The WAL's file system with each fdatasync timed (the WAL itself stays unaware of metrics). */
export function timedFdatasync(base: WalFs, observe: (ms: number) => void): WalFs {
  return {
    ...base,
    fdatasync: (fd, cb) => {
      const t0 = performance.now();
      base.fdatasync(fd, (err) => {
        if (!err) observe(performance.now() - t0);
        cb(err);
      });
    },
  };
}

/** A group led here whose followers or commit point trail its log (LSNs are byte offsets). */
export interface LaggingGroup {
  readonly group: number;
  /** Log bytes appended here but not committed yet. */
  readonly commitLagBytes: number;
  /** How many log bytes the farthest member is behind the leader's log end, and who it is. */
  readonly followerLagBytes: number;
  readonly follower?: string;
  /** Group entries issued here whose result is not out yet. */
  readonly unresolvedEntries: number;
}

/**
 * The `limit` groups led here that trail the most (by commit lag, then follower lag); groups in step are
 * left out. Bounded work for a status call: one pass over the replicas, a small sorted list.
 */
export function laggingGroups(replicas: Iterable<Replica>, limit: number): LaggingGroup[] {
  const out: LaggingGroup[] = [];
  const key = (g: LaggingGroup) => g.commitLagBytes * 2 ** 26 + g.followerLagBytes;
  for (const r of replicas) {
    if (r.role !== "leader") continue;
    const end = r.log.end;
    let followerLag = 0;
    let follower: string | undefined;
    for (const [member, matchEnd] of r.peerMatchEnds()) {
      if (member === r.self || end - matchEnd <= followerLag) continue;
      followerLag = end - matchEnd;
      follower = member;
    }
    const commitLag = end - r.committedEnd;
    if (commitLag <= 0 && followerLag <= 0) continue;
    const g: LaggingGroup = {
      group: r.group,
      commitLagBytes: commitLag,
      followerLagBytes: followerLag,
      unresolvedEntries: r.unresolvedAppends,
      ...(follower === undefined ? {} : { follower }),
    };
    if (out.length === limit && key(g) <= key(out[out.length - 1]!)) continue;
    out.push(g);
    out.sort((a, b) => key(b) - key(a));
    if (out.length > limit) out.pop();
  }
  return out;
}

/** Free and total bytes of the file system holding `dir`, or null if it cannot be read. */
export function diskSpace(dir: string): FreeSpace | null {
  try {
    return freeSpaceOf(fs.statfsSync(dir));
  } catch {
    return null;
  }
}
