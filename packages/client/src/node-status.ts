import type { DiskStatus } from "@palf/transport";

/**
 * What a node reports in its status (client.status() without a group), typed for the fields operators act
 * on; everything else the node adds is there untyped. Nodes before the disk alarm lack `disk` and `tornTails`.
 */
export interface NodeStatus {
  readonly node: string;
  readonly shards: number;
  readonly groups: number;
  readonly leaders: number;
  /** The NOSPACE alarm and the free space it watches; null when the node runs without a disk limit. */
  readonly disk?: DiskStatus | null;
  /** What recovery cut off each shard's WAL at the last start (torn tails of unacknowledged writes). */
  readonly tornTails?: readonly TornTailReport[];
  readonly [field: string]: unknown;
}

export interface TornTailReport {
  readonly shard: number;
  /** The segment file that was cut. */
  readonly file: string;
  /** Where it was cut: the first byte of the record that did not parse. */
  readonly offset: number;
  /** Bytes dropped after `offset`. */
  readonly droppedBytes: number;
}
