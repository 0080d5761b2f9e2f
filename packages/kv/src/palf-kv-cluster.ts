import type { PalfClient } from "@palf/client";
import { decodeWatermarks, WatermarkView } from "@palf/transport";
import type { KvCluster } from "./kv-cluster.ts";

/** The store's view of a real palf cluster through a client: appends, reads, GTS and watermark batches. */
export function palfKvCluster(client: PalfClient, o: { readonly pageEntries?: number } = {}): KvCluster {
  return {
    append: (group, payload, refCsn) => client.group(group).append(payload, refCsn > 0 ? { refCsn } : {}),
    read: async (group, fromLsn) => {
      const p = await client.group(group).read(fromLsn, { maxEntries: o.pageEntries ?? 1000 });
      return { entries: p.entries, next: p.next, committedEnd: p.committedEnd };
    },
    timestamp: () => client.timestamp(),
    waitGtsAbove: (csn) => client.waitGtsAbove(csn),
    fence: (group, csn) => client.group(group).fence(csn, { timeoutMs: 5000 }),
    onWatermark: (fn) => {
      // One view per subscriber: it expands the nodes' delta batches into (group, w, lsn) vouches.
      const view = new WatermarkView();
      return client.subscribe("events.watermarks", (_topic, payload) => {
        const b = decodeWatermarks(payload);
        if (b === undefined) return;
        view.apply(b, (group, _pid, lsn, w) => {
          if (lsn >= 0) fn(group, w, lsn);
        });
      });
    },
  };
}
