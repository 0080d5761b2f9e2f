import type { KvCluster, KvLogPage } from "./kv-cluster.ts";
import { encodeRecord } from "./kv-record.ts";
import type { KvRuntime } from "./kv-runtime.ts";
import { MemoryPartitionLog } from "./memory-partition-log.ts";
import { type PartitionMap, partitionOf } from "./partition-map.ts";

/** A fault for the next append to a group: it fails for sure, or its result is lost (applied or not). */
export type AppendFault =
  | { readonly code: "FAILED" }
  | { readonly code: "INDETERMINATE"; readonly applied: boolean };

/**
 * An in-memory stand-in for a PALF cluster, for the store's unit tests: one log per group (LSN = byte
 * offset, csn = max(refCsn, last + 1)), a GTS that follows the runtime clock, watermark vouches on tick(),
 * and faults injected per append. Appends and reads answer on a later turn, so concurrency is real.
 */
export class MemoryKvCluster implements KvCluster {
  readonly logs = new Map<number, MemoryPartitionLog>();
  private gts = 0;
  private readonly watchers = new Set<(group: number, w: number, lsn: number) => void>();
  private readonly faults = new Map<number, AppendFault[]>();
  readonly appends = new Map<number, number>();

  constructor(
    private readonly rt: KvRuntime,
    groups: readonly number[] = [],
  ) {
    for (const g of groups) this.log(g);
  }

  private log(group: number) {
    let l = this.logs.get(group);
    if (l === undefined) {
      l = new MemoryPartitionLog();
      this.logs.set(group, l);
    }
    return l;
  }

  /** The next append to `group` meets this fault. */
  inject(group: number, f: AppendFault): void {
    const q = this.faults.get(group) ?? [];
    q.push(f);
    this.faults.set(group, q);
  }

  /** Appends as a coordinator would, bypassing faults (e.g. a coordinator that dies after this). */
  appendNow(group: number, payload: Uint8Array, refCsn: number): { lsn: number; csn: number } {
    this.appends.set(group, (this.appends.get(group) ?? 0) + 1);
    return this.log(group).append(payload, refCsn);
  }

  async append(group: number, payload: Uint8Array, refCsn: number): Promise<{ lsn: number; csn: number }> {
    await turn();
    const f = this.faults.get(group)?.shift();
    if (f?.code === "FAILED") throw Object.assign(new Error("injected FAILED"), { code: "FAILED" });
    if (f?.code === "INDETERMINATE") {
      if (f.applied) this.appendNow(group, payload, refCsn);
      throw Object.assign(new Error("injected INDETERMINATE"), { code: "INDETERMINATE" });
    }
    return this.appendNow(group, payload, refCsn);
  }

  async read(group: number, fromLsn: number): Promise<KvLogPage> {
    await turn();
    const l = this.log(group);
    const entries = l.entries.filter((e) => e.lsn >= fromLsn).slice(0, 500);
    const last = entries[entries.length - 1];
    const next = last === undefined ? Math.max(fromLsn, l.end) : last.lsn + last.payload.length + 16;
    return { entries, next, committedEnd: l.end };
  }

  async timestamp(): Promise<number> {
    await turn();
    this.gts = Math.max(this.gts + 1, Math.floor(this.rt.now() * 1000));
    return this.gts;
  }

  async waitGtsAbove(csn: number): Promise<number> {
    if (this.gts < csn) this.gts = csn;
    return this.timestamp();
  }

  onWatermark(fn: (group: number, w: number, lsn: number) => void): () => void {
    this.watchers.add(fn);
    return () => this.watchers.delete(fn);
  }

  /** Leader-answered fences asked for. */
  fences = 0;

  /** A round for one group, as its leader starts for a fence: a GTS value fetched now, the floor raised to it. */
  async fence(group: number, csn: number): Promise<{ w: number; lsn: number }> {
    this.fences++;
    const w = Math.max(await this.timestamp(), csn);
    const l = this.log(group);
    l.raiseFloor(w);
    return { w, lsn: l.end };
  }

  /** One watermark round: every group's floor is raised to a fresh GTS value w, vouched at its log end. */
  async tick(): Promise<void> {
    const w = await this.timestamp();
    for (const [group, l] of this.logs) {
      l.raiseFloor(w);
      for (const fn of this.watchers) fn(group, w, l.end);
    }
  }
}

function turn(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/**
 * A coordinator's prepares appended by hand (one per key, each key's own partition), as a coordinator that
 * then dies would leave them. Returns the primary partition and the commit version the decision would carry.
 */
export async function prepareByHand(
  cluster: MemoryKvCluster,
  map: PartitionMap,
  txnId: string,
  keys: readonly string[],
  value: string,
): Promise<{ primary: number; commitVersion: number }> {
  const parts = keys.map((k) => partitionOf(map, k));
  const participants = [...new Set(parts)].sort((x, y) => x - y);
  const primary = participants[0]!;
  const snapshot = await cluster.timestamp();
  const ref = await cluster.timestamp();
  let commitVersion = 0;
  keys.forEach((key, i) => {
    const at = cluster.appendNow(
      map.groups[parts[i]!]!,
      encodeRecord({ type: "prepare", txnId, snapshot, writes: [{ key, value }], primary, participants }),
      ref,
    );
    commitVersion = Math.max(commitVersion, at.csn);
  });
  return { primary, commitVersion };
}
