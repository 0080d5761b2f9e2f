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

/**
 * What a transaction needs from the servers that replay partitions: fenced reads at a snapshot (locks in
 * the way already resolved) and the outcome of an appended record. Served in process (PartitionHost) or by
 * apps/kv over NATS (the same calls).
 */
export interface KvService {
  read(partition: number, key: string, snapshot: number): Promise<VersionedValue>;
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
  close(): Promise<void>;
}
