// A node's counters (summed over its shards and WALs) from its status, and rates between two snapshots.
import type { PalfClient } from "@palf/client";

/** Counters of a node (summed over its shards and WALs) from its status, for rates over the window. */
export async function nodeCounters(
  admin: PalfClient,
  nodes: readonly string[],
): Promise<Map<string, Record<string, number>>> {
  const out = new Map<string, Record<string, number>>();
  for (const n of nodes) {
    try {
      const s = (await admin.status(n)) as {
        leaders: number;
        shardStats: Array<Record<string, number>>;
        wal: Array<Record<string, number>>;
        transport: Record<string, number>;
        lease?: Record<string, number>;
        watermarks?: Record<string, number>;
      };
      const c: Record<string, number> = {};
      for (const sh of s.shardStats)
        for (const k of [
          "turns",
          "ticks",
          "groupsTurned",
          "flushes",
          "appends",
          "committed",
          "messagesIn",
          "messagesOut",
          "leaderships",
          "elections",
        ])
          c[k] = (c[k] ?? 0) + (sh[k] ?? 0);
      // Lease renewals (and the full sets among them) and watermark rounds with the groups they looked at.
      for (const k of ["renewals", "fullSets", "pairsSent"]) c[k] = s.lease?.[k] ?? 0;
      c.watermarkRounds = s.watermarks?.batches ?? 0;
      c.watermarkFullBatches = s.watermarks?.fullBatches ?? 0;
      c.watermarkVisited = s.watermarks?.visited ?? 0;
      for (const w of s.wal) {
        c.walFlushes = (c.walFlushes ?? 0) + (w.flushes ?? 0);
        c.walBytes = (c.walBytes ?? 0) + (w.bytesWritten ?? 0);
      }
      c.framesSent = s.transport.framesSent ?? 0;
      c.framesReceived = s.transport.framesReceived ?? 0;
      out.set(n, c);
    } catch {
      // a node that does not answer has no counters
    }
  }
  return out;
}

/** Per-second rates between two nodeCounters snapshots. */
export function rateOf(
  a: Record<string, number>,
  b: Record<string, number>,
  seconds: number,
): Record<string, number> {
  const rate: Record<string, number> = {};
  for (const k of Object.keys(b)) rate[k] = Math.round((((b[k] ?? 0) - (a[k] ?? 0)) / seconds) * 10) / 10;
  return rate;
}
