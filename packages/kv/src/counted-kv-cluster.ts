import type { KvCluster } from "./kv-cluster.ts";

/** Calls a store client made to PALF and GTS (load-independent cost figures; divide by transactions). */
export interface KvCallCounts {
  /** GTS timestamps asked for (snapshots, refCsn, CDC rounds). */
  timestamps: number;
  /** Commit waits (waitGtsAbove). */
  gtsWaits: number;
  appends: number;
  appendBytes: number;
  /** Pages of committed entries read. */
  reads: number;
  /** Leader-answered read fences asked for. */
  fences: number;
}

/** Wraps a KvCluster so that every call it makes is counted in `counts`. */
export function countedKvCluster(inner: KvCluster): { cluster: KvCluster; counts: KvCallCounts } {
  const counts: KvCallCounts = {
    timestamps: 0,
    gtsWaits: 0,
    appends: 0,
    appendBytes: 0,
    reads: 0,
    fences: 0,
  };
  const cluster: KvCluster = {
    append: (group, payload, refCsn) => {
      counts.appends++;
      counts.appendBytes += payload.length;
      return inner.append(group, payload, refCsn);
    },
    read: (group, fromLsn) => {
      counts.reads++;
      return inner.read(group, fromLsn);
    },
    timestamp: () => {
      counts.timestamps++;
      return inner.timestamp();
    },
    waitGtsAbove: (csn) => {
      counts.gtsWaits++;
      return inner.waitGtsAbove(csn);
    },
    onWatermark: (fn) => inner.onWatermark(fn),
    ...(inner.fence === undefined
      ? {}
      : {
          fence: (group: number, csn: number) => {
            counts.fences++;
            return inner.fence!(group, csn);
          },
        }),
  };
  return { cluster, counts };
}
