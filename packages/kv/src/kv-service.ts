import type { KvValue } from "./kv-limits.ts";
import type { TxnView } from "./partition-state.ts";

/** A committed value as a read returns it (null: absent or deleted). */
export interface VersionedValue {
  readonly value: KvValue | null;
  /** Commit version of the value (0: never written). */
  readonly version: number;
}

export interface ScanItem extends VersionedValue {
  readonly key: string;
}

/** An append made through the service: where it landed and the partition's view of the transaction after it. */
export interface LoggedOutcome {
  readonly lsn: number;
  readonly csn: number;
  /** What the partition knows of the transaction once every entry up to and including this one is applied. */
  readonly txn: TxnView | undefined;
}

/**
 * What a transaction needs from the servers that replay partitions: fenced reads at a snapshot (locks in
 * the way already resolved) and the outcome of an appended record. Served in process (PartitionHost) or by
 * apps/kv over NATS (the same calls).
 */
export interface KvService {
  read(partition: number, key: string, snapshot: number): Promise<VersionedValue>;
  /**
   * read(), but resolves with undefined instead of waiting when a lock at or below the snapshot is in the
   * way (the caller then calls read); lets a server answer a batch of reads without one lock holding all.
   */
  readIfUnlocked?(partition: number, key: string, snapshot: number): Promise<VersionedValue | undefined>;
  /** Keys in [start, end) of one partition at the snapshot, sorted, deleted keys left out. */
  scan(
    partition: number,
    start: string,
    end: string | undefined,
    snapshot: number,
    limit: number,
  ): Promise<ScanItem[]>;
  /** What the partition knows of the transaction once every entry up to and including `lsn` is applied. */
  outcome(partition: number, txnId: string, lsn: number): Promise<TxnView | undefined>;
  /**
   * Appends a record (with refCsn) to the partition's group and answers its outcome for `txnId`: one round
   * trip instead of an append and an outcome read, and the replica applies its own append without reading
   * it back. Rejects like KvCluster.append: code FAILED only when the record will never be in the log.
   */
  appendOutcome(
    partition: number,
    payload: Uint8Array,
    refCsn: number,
    txnId: string,
  ): Promise<LoggedOutcome>;
  close(): Promise<void>;
}
