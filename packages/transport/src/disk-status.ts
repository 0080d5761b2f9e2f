/**
 * The disk part of a node's status (the NOSPACE alarm and the free space it watches), as the node reports
 * it and the client reads it: one type for both ends of the status RPC.
 */
export interface DiskStatus {
  /** free-space: WAL room follows the filesystem's free space (statfs); budget: a fixed --disk-budget-mb per shard. */
  readonly mode: "free-space" | "budget";
  /** "NOSPACE" while the node refuses appends for lack of disk (they are answered BACKPRESSURE), else null. */
  readonly alarm: "NOSPACE" | null;
  /** Wall-clock ms when the alarm went up (null when it is down). */
  readonly alarmSince: number | null;
  /** From the last statfs (null until the first one answered, or when it failed). */
  readonly freeBytes: number | null;
  readonly totalBytes: number | null;
  /** Free-space mode's reserve; null with a fixed budget. */
  readonly reserveBytes: number | null;
  /** WAL reservations refused for lack of room since the node started (all shards). */
  readonly refusedReservations: number;
}
