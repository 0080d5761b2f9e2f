import type { CursorPosition } from "@palf/transport";
import { Packr } from "msgpackr";
import type { KvCluster } from "./kv-cluster.ts";
import { KvError } from "./kv-error.ts";
import type { KvValue } from "./kv-limits.ts";
import { decodeRecord, type KvWrite } from "./kv-record.ts";
import { delay, type KvRuntime } from "./kv-runtime.ts";
import { kvUnsafeOn } from "./kv-unsafe.ts";
import type { PartitionMap } from "./partition-map.ts";
import { PartitionReplica, type ReplicaOptions } from "./partition-replica.ts";
import { type ApplyOutcome, type PartitionEntry, PartitionState } from "./partition-state.ts";

/** One committed transaction as the change stream delivers it. */
export interface TxnChange {
  readonly commitVersion: number;
  readonly txnId: string;
  /** Every partition's writes, partition by partition, keys sorted within each. */
  readonly writes: ReadonlyArray<{
    readonly partition: number;
    readonly key: string;
    readonly value: KvValue | null;
  }>;
}

/** Where a change stream stands: opaque, JSON-safe; pass it as `from` to resume after the last delivered. */
export interface TxnCdcCheckpoint {
  readonly format: 1;
  /** Commit version of the last transaction delivered (for people; the data holds the rest). */
  readonly commitVersion: number;
  readonly data: string;
}

export interface TxnCdcOptions extends ReplicaOptions {
  /** Resume after this checkpoint (default: from the start of every partition's log). */
  readonly from?: TxnCdcCheckpoint;
  /** Pause between frontier rounds (ms). Default 10. */
  readonly pollMs?: number;
}

interface PendingTxn {
  primary: number;
  readonly writes: Map<number, readonly KvWrite[]>;
  /** Prepare versions known per partition (undecided holds the frontier below the smallest). */
  readonly prepares: Map<number, number>;
  commitVersion: number | undefined;
}

const packr = new Packr({ useRecords: false, moreTypes: false });

/**
 * Transaction CDC: one stream of whole committed transactions in commit-version order (ties by txn id).
 * It replays every partition (the decisions are the state machine's), learns each transaction's writes from
 * its prepares and its fate from its primary's first decision, and delivers commit version c only when every
 * partition has applied all entries with CSN <= c (the frontier) and no prepare at or below c is still
 * undecided (OBCDC's rule: a commit record can land after the watermarks passed its version).
 */
export class TxnCdc implements AsyncIterable<TxnChange> {
  private readonly replicas: PartitionReplica[] = [];
  private readonly pending = new Map<string, PendingTxn>();
  private last: { commitVersion: number; txnId: string } = { commitVersion: -1, txnId: "" };
  private closed = false;
  readonly stats = { delivered: 0, rounds: 0 };

  constructor(
    private readonly cluster: KvCluster,
    private readonly rt: KvRuntime,
    private readonly map: PartitionMap,
    private readonly opts: TxnCdcOptions = {},
  ) {
    const from = opts.from === undefined ? undefined : restore(opts.from, map);
    if (from !== undefined) {
      this.last = from.last;
      for (const [id, t] of from.pending) this.pending.set(id, t);
    }
    map.groups.forEach((g, p) => {
      const r = new PartitionReplica(p, g, cluster, rt, opts, from?.partitions.get(p));
      r.onApply((o, e) => this.onApply(p, o, e));
      this.replicas.push(r);
    });
  }

  private watermarkOff: (() => void) | undefined;

  private onApply(p: number, o: ApplyOutcome, e: PartitionEntry): void {
    if (o.kind === "malformed" || o.kind === "fence" || o.kind === "ignored") return;
    const d = decodeRecord(e.payload);
    if (!d.ok) return;
    const r = d.record;
    if (r.type === "prepare" && (o.kind === "prepared" || o.kind === "committed")) {
      let t = this.pending.get(r.txnId);
      if (t === undefined) {
        t = { primary: r.primary, writes: new Map(), prepares: new Map(), commitVersion: undefined };
        this.pending.set(r.txnId, t);
      }
      t.writes.set(p, r.writes);
      t.prepares.set(p, e.csn);
      if (o.kind === "committed") t.commitVersion = o.commitVersion;
      return;
    }
    if ("txnId" in r && p === this.pending.get(r.txnId)?.primary) {
      // Only the primary's decision counts; the other participants' records follow it.
      const t = this.pending.get(r.txnId)!;
      if (o.kind === "committed") t.commitVersion = o.commitVersion;
      else if (o.kind === "aborted" || o.kind === "refused") this.pending.delete(r.txnId);
    } else if (o.kind === "refused" && r.type === "prepare" && r.primary === p) this.pending.delete(r.txnId);
  }

  /** The lowest watermark over the partitions: every entry with CSN <= it has been applied. */
  frontier(): number {
    let f = Number.POSITIVE_INFINITY;
    for (const r of this.replicas) f = Math.min(f, r.w);
    return f;
  }

  /** Where the stream stands now: resume after the last transaction delivered. */
  checkpoint(): TxnCdcCheckpoint {
    const pending = [...this.pending.entries()].map(([id, t]) => [
      id,
      t.primary,
      [...t.writes.entries()].map(([p, ws]) => [p, ws.map((w) => [w.key, w.value])]),
      [...t.prepares.entries()],
      t.commitVersion ?? null,
    ]);
    const parts = this.replicas.map((r) => [r.partition, r.readFrom, r.state.checkpoint()]);
    const data = packr.pack([this.map.version, this.last.commitVersion, this.last.txnId, pending, parts]);
    return { format: 1, commitVersion: this.last.commitVersion, data: Buffer.from(data).toString("base64") };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watermarkOff?.();
    for (const r of this.replicas) r.close();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<TxnChange> {
    this.watermarkOff = this.cluster.onWatermark((group, w, lsn) => {
      const p = this.map.groups.indexOf(group);
      if (p >= 0) this.replicas[p]!.vouch(w, lsn);
    });
    while (!this.closed) {
      this.stats.rounds++;
      let ts: number;
      try {
        ts = await this.cluster.timestamp();
        await Promise.all(this.replicas.map((r) => r.fence(ts)));
      } catch (err) {
        if (this.closed) return;
        if (err instanceof KvError && err.code === "UNAVAILABLE") continue;
        throw err;
      }
      for (const [txnId, t] of this.ready()) {
        if (this.closed) return;
        // Marked delivered as it is handed out, so a checkpoint taken after it resumes right after it.
        this.pending.delete(txnId);
        const c = t.commitVersion!;
        if (c < this.last.commitVersion || (c === this.last.commitVersion && txnId <= this.last.txnId))
          continue;
        this.last = { commitVersion: c, txnId };
        this.stats.delivered++;
        const writes = [...t.writes.entries()]
          .sort((a, b) => a[0] - b[0])
          .flatMap(([partition, ws]) => ws.map((w) => ({ partition, key: w.key, value: w.value })));
        yield { commitVersion: c, txnId, writes };
      }
      await delay(this.rt, this.opts.pollMs ?? 10);
    }
  }

  /** Every transaction deliverable now, in order. */
  private ready(): Array<[string, PendingTxn]> {
    const f = this.frontier();
    let floor = Number.POSITIVE_INFINITY;
    const decided: Array<[string, PendingTxn]> = [];
    for (const [id, t] of this.pending) {
      if (t.commitVersion === undefined) {
        // The primary's state holds the first decision, however it came (a record, or its own prepare
        // refused before the other participants' prepares were read).
        const d = this.replicas[t.primary]?.state.txn(id);
        // An abort anywhere means it never commits: a coordinator aborts participants only once it will
        // append no commit, and resolvers roll only the primary's decision forward. Needed when the primary
        // never got a record of it (its prepare failed, and the abort sent there was lost too): nothing
        // would ever decide it there, and it would hold the stream back for good.
        if (
          d?.state === "aborted" ||
          [...t.prepares.keys()].some((p) => this.replicas[p]?.state.txn(id)?.state === "aborted")
        ) {
          this.pending.delete(id);
          continue;
        }
        if (d?.state === "committed") t.commitVersion = d.commitVersion;
      }
      if (t.commitVersion === undefined) {
        if (!kvUnsafeOn("cdcIgnoresUndecided"))
          for (const v of t.prepares.values()) floor = Math.min(floor, v);
      } else decided.push([id, t]);
    }
    decided.sort(
      (a, b) => a[1].commitVersion! - b[1].commitVersion! || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0),
    );
    const out: Array<[string, PendingTxn]> = [];
    for (const d of decided) {
      const c = d[1].commitVersion!;
      if (c > f || c >= floor) break;
      out.push(d);
    }
    return out;
  }
}
/**
 * Where a transaction-CDC checkpoint resumes each partition's log, as a reader cursor position (save it
 * with `client.cursors().save(name, ...)`): retention and the store servers' recycling then keep every
 * group's log from there, so a consumer resuming from the checkpoint never meets RECYCLED.
 */
export function cdcCursorPosition(cp: TxnCdcCheckpoint, map: PartitionMap): CursorPosition {
  const groups: Record<string, number> = {};
  for (const [p, r] of restore(cp, map).partitions) groups[String(map.groups[p])] = r.readFrom;
  return { groups, csn: cp.commitVersion };
}

function restore(
  cp: TxnCdcCheckpoint,
  map: PartitionMap,
): {
  last: { commitVersion: number; txnId: string };
  pending: Map<string, PendingTxn>;
  partitions: Map<number, { state: PartitionState; readFrom: number }>;
} {
  let a: unknown[];
  try {
    if (cp.format !== 1) throw new Error(`format ${String(cp.format)}`);
    a = packr.unpack(Buffer.from(cp.data, "base64")) as unknown[];
    if (!Array.isArray(a) || a.length !== 5) throw new Error("not 5 fields");
  } catch (e) {
    throw new KvError("BAD_REQUEST", `not a transaction CDC checkpoint: ${(e as Error).message}`);
  }
  const [mapVersion, c, id, pending, parts] = a as [
    number,
    number,
    string,
    Array<
      [
        string,
        number,
        Array<[number, Array<[string, KvValue | null]>]>,
        Array<[number, number]>,
        number | null,
      ]
    >,
    Array<[number, number, Uint8Array]>,
  ];
  if (mapVersion !== map.version)
    throw new KvError(
      "BAD_REQUEST",
      `the checkpoint is for partition map version ${mapVersion}, the store has ${map.version}`,
    );
  const out = new Map<string, PendingTxn>();
  for (const [txnId, primary, writes, prepares, cv] of pending)
    out.set(txnId, {
      primary,
      writes: new Map(writes.map(([p, ws]) => [p, ws.map(([key, value]) => ({ key, value }))])),
      prepares: new Map(prepares),
      commitVersion: cv ?? undefined,
    });
  return {
    last: { commitVersion: c, txnId: id },
    pending: out,
    partitions: new Map(
      parts.map(([p, readFrom, st]) => [p, { readFrom, state: PartitionState.restore(st) }]),
    ),
  };
}
