import type { KvCluster } from "./kv-cluster.ts";
import { KvError } from "./kv-error.ts";
import { encodeRecord } from "./kv-record.ts";
import { delay, type KvRuntime, type KvTimer } from "./kv-runtime.ts";
import type { KvService, LoggedOutcome, ScanItem, VersionedValue } from "./kv-service.ts";
import type { PartitionMap } from "./partition-map.ts";
import { PartitionReplica, type ReplicaOptions } from "./partition-replica.ts";
import type { PartitionState, TxnView } from "./partition-state.ts";

export interface PartitionHostOptions extends ReplicaOptions {
  /** A lock whose primary has no decision this long after its prepare version (GTS time) is aborted. Default 2000. */
  readonly lockTimeoutMs?: number;
  /** The background resolver looks for stale locks this often (0: never). Default 1000. */
  readonly resolveEveryMs?: number;
}

/** The decision of a transaction as its primary's log says (the first decision record there). */
export type Decision =
  | { readonly state: "committed"; readonly commitVersion: number }
  | { readonly state: "aborted" }
  | { readonly state: "undecided" };

/**
 * Replays partitions (all of them, or those given) and answers reads and outcomes from their state: the read
 * fence first, then any lock at or below the snapshot is resolved (wait for its decision; past the lock
 * timeout abort it at its primary, where the first decision wins; roll the decision forward to the
 * partition). A background resolver does the same for locks nobody reads. Replicas of other partitions
 * are made on first need (a lock's primary).
 */
export class PartitionHost implements KvService {
  private readonly replicas = new Map<number, PartitionReplica>();
  private readonly resolving = new Map<string, Promise<void>>();
  private readonly unsubscribe: () => void;
  private resolverTimer: KvTimer | undefined;
  /** The highest GTS value seen here (watermarks are GTS values): snapshots far above it are checked. */
  private gtsSeen = 0;
  private closed = false;
  readonly stats = { lockWaits: 0, rolledForward: 0, abortedStale: 0 };

  constructor(
    private readonly cluster: KvCluster,
    private readonly rt: KvRuntime,
    readonly map: PartitionMap,
    private readonly opts: PartitionHostOptions = {},
    restored: ReadonlyMap<number, { readonly state: PartitionState; readonly readFrom: number }> = new Map(),
  ) {
    for (const [p, from] of restored) this.replicas.set(p, this.make(p, from));
    const byGroup = new Map(map.groups.map((g, i) => [g, i]));
    this.unsubscribe = cluster.onWatermark((group, w, lsn) => {
      if (w > this.gtsSeen) this.gtsSeen = w;
      const p = byGroup.get(group);
      if (p !== undefined) this.replicas.get(p)?.vouch(w, lsn);
    });
    this.scheduleResolver();
  }

  /** The replica of partition `p` (made, and reading, on first use). */
  replica(p: number): PartitionReplica {
    let r = this.replicas.get(p);
    if (r === undefined) {
      r = this.make(p);
      this.replicas.set(p, r);
    }
    return r;
  }

  /** Partitions replayed here. */
  get partitions(): number[] {
    return [...this.replicas.keys()].sort((a, b) => a - b);
  }

  private make(
    p: number,
    from?: { readonly state: PartitionState; readonly readFrom: number },
  ): PartitionReplica {
    const g = this.map.groups[p];
    if (g === undefined)
      throw new KvError("BAD_REQUEST", `partition ${p} is not in map version ${this.map.version}`);
    return new PartitionReplica(p, g, this.cluster, this.rt, this.opts, from);
  }

  async read(p: number, key: string, snapshot: number): Promise<VersionedValue> {
    return this.readAfterFence(p, key, snapshot, true) as Promise<VersionedValue>;
  }

  /** read(), but undefined instead of waiting when a lock at or below the snapshot is in the way. */
  async readIfUnlocked(p: number, key: string, snapshot: number): Promise<VersionedValue | undefined> {
    return this.readAfterFence(p, key, snapshot, false);
  }

  private async readAfterFence(
    p: number,
    key: string,
    snapshot: number,
    resolveLocks: boolean,
  ): Promise<VersionedValue | undefined> {
    const r = this.replica(p);
    await this.checkSnapshot(snapshot);
    await r.fence(snapshot);
    for (;;) {
      const res = r.state.read(key, snapshot);
      if (res.kind === "value") return { value: res.value, version: res.version };
      if (res.kind === "tooOld")
        throw new KvError(
          "SNAPSHOT_TOO_OLD",
          `snapshot ${snapshot} is below partition ${p}'s horizon ${res.horizon}`,
          {
            partition: p,
          },
        );
      if (!resolveLocks) return undefined;
      await this.resolve(p, res.txnId, res.primary, res.prepareVersion);
    }
  }

  async scan(
    p: number,
    start: string,
    end: string | undefined,
    snapshot: number,
    limit: number,
  ): Promise<ScanItem[]> {
    const r = this.replica(p);
    await this.checkSnapshot(snapshot);
    await r.fence(snapshot);
    for (;;) {
      const out: ScanItem[] = [];
      let lock: { txnId: string; primary: number; prepareVersion: number } | undefined;
      for (const key of r.state.keysIn(start, end)) {
        const res = r.state.read(key, snapshot);
        if (res.kind === "tooOld")
          throw new KvError("SNAPSHOT_TOO_OLD", `snapshot ${snapshot} is below partition ${p}'s horizon`, {
            partition: p,
          });
        if (res.kind === "locked") {
          lock = res;
          break;
        }
        if (res.value !== null) out.push({ key, value: res.value, version: res.version });
        if (out.length >= limit) break;
      }
      if (lock === undefined) return out;
      await this.resolve(p, lock.txnId, lock.primary, lock.prepareVersion);
    }
  }

  async appendOutcome(p: number, payload: Uint8Array, refCsn: number, txnId: string): Promise<LoggedOutcome> {
    const r = this.replica(p);
    const at = await this.cluster.append(r.group, payload, refCsn);
    await r.caughtUp(at.lsn + 1);
    return { lsn: at.lsn, csn: at.csn, txn: r.state.txn(txnId) };
  }

  /**
   * Refuses a snapshot that is not a GTS value: not a natural number, or ahead of GTS. A read fence at a
   * snapshot ahead of GTS would push the partition's CSNs past GTS, and every commit there would wait for
   * GTS to catch up (the commit wait). GTS is asked only for a snapshot over a second above what was seen.
   */
  private async checkSnapshot(snapshot: number): Promise<void> {
    if (!Number.isSafeInteger(snapshot) || snapshot < 0)
      throw new KvError("BAD_REQUEST", `a snapshot must be a natural number (a GTS value), got ${snapshot}`);
    if (snapshot <= this.gtsSeen + SNAPSHOT_SLACK_US) return;
    const now = await this.cluster.timestamp();
    if (now > this.gtsSeen) this.gtsSeen = now;
    if (snapshot > now)
      throw new KvError(
        "BAD_REQUEST",
        `snapshot ${snapshot} is ahead of GTS (${now}): snapshots come from GTS`,
      );
  }

  async outcome(p: number, txnId: string, lsn: number): Promise<TxnView | undefined> {
    const r = this.replica(p);
    await r.caughtUp(lsn + 1);
    return r.state.txn(txnId);
  }

  /** The primary's decision on a transaction, as far as its log has been read now (refreshing it). */
  async decision(primary: number, txnId: string): Promise<Decision> {
    const r = this.replica(primary);
    r.refresh();
    // Read the primary to its current committed end: a decision already there is found.
    const page = await this.cluster.read(r.group, r.readFrom);
    await r.caughtUp(page.committedEnd);
    return decisionOf(r.state.txn(txnId));
  }

  /**
   * Makes the lock of `txnId` on partition `p` go away: waits for its decision, aborts it at its primary
   * once it is older than the lock timeout, and appends the decision to `p` if it is not there yet.
   */
  resolve(p: number, txnId: string, primary: number, prepareVersion: number): Promise<void> {
    const k = `${p}/${txnId}`;
    let job = this.resolving.get(k);
    if (job === undefined) {
      job = this.resolveOnce(p, txnId, primary, prepareVersion).finally(() => this.resolving.delete(k));
      this.resolving.set(k, job);
    }
    return job;
  }

  private async resolveOnce(
    p: number,
    txnId: string,
    primary: number,
    prepareVersion: number,
  ): Promise<void> {
    this.stats.lockWaits++;
    const r = this.replica(p);
    const timeoutUs = (this.opts.lockTimeoutMs ?? 2000) * 1000;
    const started = this.rt.now();
    const giveUpMs = this.opts.waitTimeoutMs ?? 10_000;
    let pause = 2;
    for (;;) {
      if (this.closed) throw new KvError("CLOSED", "partition host closed");
      if (r.state.txn(txnId)?.state !== "prepared") return;
      const d = await this.decision(primary, txnId);
      if (d.state !== "undecided") {
        if (r.state.txn(txnId)?.state !== "prepared") return;
        // Roll the primary's decision forward (or back) to this participant; the coordinator may be gone.
        const rec =
          d.state === "committed"
            ? encodeRecord({ type: "commit", txnId, commitVersion: d.commitVersion })
            : encodeRecord({ type: "abort", txnId });
        const at = await this.cluster.append(r.group, rec, d.state === "committed" ? d.commitVersion : 0);
        this.stats.rolledForward++;
        await r.caughtUp(at.lsn + 1);
        return;
      }
      const now = await this.cluster.timestamp();
      if (now - prepareVersion > timeoutUs) {
        // First decision wins: if the coordinator's commit got there first, this abort is ignored.
        const pr = this.replica(primary);
        const at = await this.cluster.append(pr.group, encodeRecord({ type: "abort", txnId }), 0);
        this.stats.abortedStale++;
        await pr.caughtUp(at.lsn + 1);
        continue;
      }
      if (this.rt.now() - started > giveUpMs)
        throw new KvError("UNAVAILABLE", `lock of ${txnId} on partition ${p} is still undecided`, {
          txnId,
          partition: p,
        });
      r.refresh();
      await delay(this.rt, pause);
      pause = Math.min(pause * 2, 50);
    }
  }

  /** One pass of the background resolver over every replica's stale locks. */
  async resolveStale(): Promise<number> {
    const now = await this.cluster.timestamp();
    const timeoutUs = (this.opts.lockTimeoutMs ?? 2000) * 1000;
    const jobs: Promise<void>[] = [];
    for (const r of this.replicas.values()) {
      r.refresh();
      for (const t of r.state.undecided())
        if (t.prepareVersion !== undefined && now - t.prepareVersion > timeoutUs && t.primary !== undefined)
          jobs.push(this.resolve(r.partition, t.txnId, t.primary, t.prepareVersion).catch(() => undefined));
    }
    await Promise.all(jobs);
    return jobs.length;
  }

  private scheduleResolver(): void {
    const every = this.opts.resolveEveryMs ?? 1000;
    if (every <= 0 || this.closed) return;
    this.resolverTimer = this.rt.setTimeout(() => {
      void this.resolveStale()
        .catch(() => undefined)
        .finally(() => this.scheduleResolver());
    }, every);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.rt.clearTimeout(this.resolverTimer);
    this.unsubscribe();
    for (const r of this.replicas.values()) r.close();
  }
}

/** How far (microseconds) a snapshot may lie above the highest GTS value seen before GTS is asked. */
const SNAPSHOT_SLACK_US = 1_000_000;

export function decisionOf(t: TxnView | undefined): Decision {
  if (t?.state === "committed") return { state: "committed", commitVersion: t.commitVersion! };
  if (t?.state === "aborted") return { state: "aborted" };
  return { state: "undecided" };
}
