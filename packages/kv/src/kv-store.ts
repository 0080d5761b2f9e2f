import { randomBytes } from "node:crypto";
import { hashSeed } from "@palf/core";
import type { KvCluster } from "./kv-cluster.ts";
import { asKvError, KvError } from "./kv-error.ts";
import {
  byteLength,
  checkKey,
  checkValue,
  DEFAULT_LIMITS,
  type KvLimits,
  type KvValue,
  MAX_PREPARE_BYTES,
} from "./kv-limits.ts";
import { delay, type KvRuntime, realKvRuntime } from "./kv-runtime.ts";
import type { KvService, ScanItem } from "./kv-service.ts";
import { kvUnsafeOn } from "./kv-unsafe.ts";
import { PartitionHost, type PartitionHostOptions } from "./partition-host.ts";
import { type PartitionMap, partitionOf } from "./partition-map.ts";
import { compareKeys } from "./partition-state.ts";
import { TxnCdc, type TxnCdcOptions } from "./txn-cdc.ts";
import { commitWrites, splitWrites } from "./txn-commit.ts";

export interface OpenKvOptions {
  /** How the store reaches PALF (palfKvCluster(client) for a real cluster). */
  readonly cluster: KvCluster;
  /** The partition map (readPartitionMap gets it from the catalog group). */
  readonly map: PartitionMap;
  /** Who replays partitions and answers reads: default an in-process PartitionHost over every partition. */
  readonly service?: KvService;
  readonly runtime?: KvRuntime;
  readonly limits?: Partial<KvLimits>;
  /** Attempts of one kv.txn at most (conflicts and aborts are retried). Default 10. */
  readonly maxAttempts?: number;
  /** Options of the in-process host (when `service` is not given). */
  readonly host?: PartitionHostOptions;
  /** Prefix of this handle's transaction ids. Default: random. */
  readonly txnIdPrefix?: string;
  /** Test hook: runs between a multi-partition transaction's prepares and its decision (e.g. to crash there). */
  readonly afterPrepare?: (txnId: string) => Promise<void> | void;
}

/** A key range [start, end); `prefix` is shorthand for every key that starts with it. */
export type KeyRange = { readonly prefix: string } | { readonly start: string; readonly end?: string };

export interface ReadOptions {
  /** Read at this GTS timestamp instead of a fresh one. */
  readonly snapshot?: number;
}

export interface ScanOptions extends ReadOptions {
  /** At most this many keys. Default 1000. */
  readonly limit?: number;
}

/** What a committed kv.transact resolves with. */
export interface TxnResult<T> {
  readonly value: T;
  readonly txnId: string;
  /** Commit version (undefined for a transaction that wrote nothing). */
  readonly commitVersion: number | undefined;
  readonly snapshot: number;
  readonly attempts: number;
}

/**
 * One attempt of a transaction: reads at its snapshot (its own writes first), writes buffered until commit.
 * Valid only inside the kv.txn callback.
 */
export class Txn {
  readonly writes = new Map<string, KvValue | null>();
  /** Reads and scans made (a transaction that neither reads nor writes is refused). */
  reads = 0;

  constructor(
    private readonly kv: Kv,
    readonly txnId: string,
    readonly snapshot: number,
  ) {}

  async get(key: string): Promise<KvValue | null> {
    checkKey(key, this.kv.limits);
    this.reads++;
    if (this.writes.has(key)) return this.writes.get(key)!;
    return (await this.kv.service.read(this.kv.partitionOf(key), key, this.snapshot)).value;
  }

  put(key: string, value: KvValue): void {
    checkKey(key, this.kv.limits);
    this.writes.set(key, checkValue(key, value, this.kv.limits));
  }

  delete(key: string): void {
    checkKey(key, this.kv.limits);
    this.writes.set(key, null);
  }

  /** Keys in the range at the snapshot with this transaction's own writes over them, sorted. */
  async scan(
    range: KeyRange,
    o: { readonly limit?: number } = {},
  ): Promise<Array<{ key: string; value: KvValue }>> {
    const limit = o.limit ?? 1000;
    this.reads++;
    const base = await this.kv.scanAt(range, this.snapshot, limit + this.writes.size);
    const merged = new Map(base.map((i) => [i.key, i.value as KvValue | null]));
    const [start, end] = bounds(range);
    for (const [k, v] of this.writes) if (k >= start && (end === undefined || k < end)) merged.set(k, v);
    return [...merged.entries()]
      .filter((e): e is [string, KvValue] => e[1] !== null)
      .sort((a, b) => compareKeys(a[0], b[0]))
      .slice(0, limit)
      .map(([key, value]) => ({ key, value }));
  }
}

/**
 * The store's SDK handle: transactions with snapshot isolation across partitions (kv.txn, retried on
 * conflict), single-key calls and scans. Every call takes its snapshot from GTS and, for writes, answers
 * only once GTS is past the commit version (commit wait), so a call that starts after another's answer sees
 * its writes.
 */
export class Kv {
  readonly limits: KvLimits;
  readonly service: KvService;
  private readonly rt: KvRuntime;
  private readonly ownsService: boolean;
  private readonly prefix: string;
  private seq = 0;
  private closed = false;
  /**
   * The highest GTS timestamp this handle was given. GTS never goes back, so once it gave a value above a
   * commit version every later snapshot is above it too: the commit wait is already over.
   */
  private gtsSeen = 0;
  readonly stats = { committed: 0, conflicts: 0, aborts: 0, retries: 0, indeterminate: 0 };
  /** Where transaction time goes, summed over attempts (ms): GTS snapshot, the callback's reads, commit, commit wait. */
  readonly phaseMs = { snapshot: 0, reads: 0, commit: 0, commitWait: 0 };

  constructor(private readonly o: OpenKvOptions) {
    this.limits = { ...DEFAULT_LIMITS, ...o.limits };
    this.rt = o.runtime ?? realKvRuntime;
    this.ownsService = o.service === undefined;
    this.service = o.service ?? new PartitionHost(o.cluster, this.rt, o.map, o.host ?? {});
    this.prefix = o.txnIdPrefix ?? randomBytes(6).toString("hex");
  }

  get map(): PartitionMap {
    return this.o.map;
  }

  partitionOf(key: string): number {
    return partitionOf(this.o.map, key);
  }

  /** Runs `fn` as a transaction, retrying it on CONFLICT and ABORTED; resolves with fn's result. */
  async txn<T>(fn: (tx: Txn) => Promise<T>, o: { readonly maxAttempts?: number } = {}): Promise<T> {
    return (await this.transact(fn, o)).value;
  }

  /** kv.txn with the commit version, txn id, snapshot and attempt count. */
  async transact<T>(
    fn: (tx: Txn) => Promise<T>,
    o: { readonly maxAttempts?: number } = {},
  ): Promise<TxnResult<T>> {
    const max = o.maxAttempts ?? this.o.maxAttempts ?? 10;
    for (let attempt = 1; ; attempt++) {
      this.checkOpen();
      const txnId = `${this.prefix}-${++this.seq}`;
      try {
        let t = this.rt.now();
        const snapshot = await this.timestamp();
        this.phaseMs.snapshot += this.rt.now() - t;
        t = this.rt.now();
        const tx = new Txn(this, txnId, snapshot);
        const value = await fn(tx);
        this.phaseMs.reads += this.rt.now() - t;
        if (tx.writes.size === 0 && tx.reads === 0)
          throw new KvError("BAD_REQUEST", "a transaction must read or write at least one key", { txnId });
        const commitVersion = tx.writes.size === 0 ? undefined : await this.commit(tx);
        this.stats.committed++;
        return { value, txnId, commitVersion, snapshot, attempts: attempt };
      } catch (caught) {
        const err = asKvError(caught);
        const code = err.code;
        if (code === "CONFLICT") this.stats.conflicts++;
        else if (code === "ABORTED") this.stats.aborts++;
        else if (code === "INDETERMINATE") this.stats.indeterminate++;
        if ((code !== "CONFLICT" && code !== "ABORTED") || attempt >= max) throw err;
        this.stats.retries++;
        // Spread retries of conflicting transactions apart without a random source.
        await delay(this.rt, 1 + (hashSeed(txnId) % (2 << Math.min(attempt, 6))));
      }
    }
  }

  private async commit(tx: Txn): Promise<number> {
    if (tx.writes.size > this.limits.maxKeysPerTxn)
      throw new KvError(
        "BAD_REQUEST",
        `a transaction writes ${tx.writes.size} keys, over the limit of ${this.limits.maxKeysPerTxn}`,
        {
          txnId: tx.txnId,
        },
      );
    let bytes = 0;
    for (const [k, v] of tx.writes) bytes += byteLength(k) + (v === null ? 0 : byteLength(v));
    if (bytes > MAX_PREPARE_BYTES)
      throw new KvError(
        "BAD_REQUEST",
        `a transaction writes ${bytes} bytes, over the limit of ${MAX_PREPARE_BYTES}`,
        {
          txnId: tx.txnId,
        },
      );
    let t = this.rt.now();
    const version = await commitWrites(
      { service: this.service, now: () => this.rt.now(), afterPrepare: this.o.afterPrepare },
      tx.txnId,
      tx.snapshot,
      splitWrites(tx.writes, (k) => this.partitionOf(k)),
    );
    this.phaseMs.commit += this.rt.now() - t;
    t = this.rt.now();
    // Commit wait: a snapshot taken after our answer is above the commit version, so it sees the writes.
    try {
      if (this.gtsSeen <= version && !kvUnsafeOn("skipCommitWait"))
        this.seen(await this.o.cluster.waitGtsAbove(version));
    } catch (err) {
      throw new KvError(
        "INDETERMINATE",
        `${tx.txnId} committed at ${version}, but the commit wait failed (a snapshot taken now may not see it): ${(err as Error)?.message ?? String(err)}`,
        { txnId: tx.txnId },
        { cause: err },
      );
    }
    this.phaseMs.commitWait += this.rt.now() - t;
    return version;
  }

  /** A GTS timestamp (remembered as the highest seen). */
  private async timestamp(): Promise<number> {
    return this.seen(await this.o.cluster.timestamp());
  }

  private seen(ts: number): number {
    if (ts > this.gtsSeen) this.gtsSeen = ts;
    return ts;
  }

  async get(key: string, o: ReadOptions = {}): Promise<KvValue | null> {
    this.checkOpen();
    checkKey(key, this.limits);
    try {
      const s = o.snapshot ?? (await this.timestamp());
      return (await this.service.read(this.partitionOf(key), key, s)).value;
    } catch (err) {
      throw asKvError(err);
    }
  }

  /** Writes one key (one partition: one append). Resolves with the commit version. */
  async put(key: string, value: KvValue): Promise<number> {
    return (await this.transact(async (tx) => tx.put(key, value))).commitVersion!;
  }

  async delete(key: string): Promise<number> {
    return (await this.transact(async (tx) => tx.delete(key))).commitVersion!;
  }

  /** Keys in a range (or with a prefix) at one snapshot, across every partition, sorted. */
  async scan(range: KeyRange, o: ScanOptions = {}): Promise<Array<{ key: string; value: KvValue }>> {
    this.checkOpen();
    try {
      const s = o.snapshot ?? (await this.timestamp());
      const items = await this.scanAt(range, s, o.limit ?? 1000);
      return items.map((i) => ({ key: i.key, value: i.value as KvValue }));
    } catch (err) {
      throw asKvError(err);
    }
  }

  /** @internal Scan of every partition at `snapshot`, merged. */
  async scanAt(range: KeyRange, snapshot: number, limit: number): Promise<ScanItem[]> {
    const [start, end] = bounds(range);
    const parts = await Promise.all(
      this.o.map.groups.map((_, p) => this.service.scan(p, start, end, snapshot, limit)),
    );
    return parts
      .flat()
      .sort((a, b) => compareKeys(a.key, b.key))
      .slice(0, limit);
  }

  /**
   * Transaction CDC: whole committed transactions in commit-version order, from the start of the logs or
   * after a checkpoint (reader.checkpoint()). Close the reader when done.
   */
  changes(o: TxnCdcOptions = {}): TxnCdc {
    this.checkOpen();
    return new TxnCdc(this.o.cluster, this.rt, this.o.map, { ...this.o.host, ...o });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsService) await this.service.close();
  }

  private checkOpen(): void {
    if (this.closed) throw new KvError("CLOSED", "the kv handle is closed");
  }
}

/** Opens the store's SDK handle. */
export async function openKv(o: OpenKvOptions): Promise<Kv> {
  return new Kv(o);
}

/** [start, end) of a range; a prefix's end is the prefix with its last code unit raised by one. */
export function bounds(r: KeyRange): [string, string | undefined] {
  if ("prefix" in r) {
    if (r.prefix === "") return ["", undefined];
    const last = r.prefix.charCodeAt(r.prefix.length - 1);
    return [r.prefix, r.prefix.slice(0, -1) + String.fromCharCode(last + 1)];
  }
  return [r.start, r.end];
}
