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
  readonly disk?: NodeDiskStatus | null;
  /** What recovery cut off each shard's WAL at the last start (torn tails of unacknowledged writes). */
  readonly tornTails?: readonly TornTailReport[];
  readonly [field: string]: unknown;
}

export interface NodeDiskStatus {
  /** free-space: WAL room follows the filesystem's free space; budget: a fixed --disk-budget-mb. */
  readonly mode: "free-space" | "budget";
  /** "NOSPACE" while the node refuses appends for lack of disk (they are answered BACKPRESSURE). */
  readonly alarm: "NOSPACE" | null;
  /** Wall-clock ms since when the alarm is up. */
  readonly alarmSince: number | null;
  readonly freeBytes: number | null;
  readonly totalBytes: number | null;
  readonly reserveBytes: number | null;
  /** WAL reservations refused for lack of room since the node started. */
  readonly refusedReservations: number;
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
