/**
 * @palf/node: the palf node runtime. Shards host thousands of groups each with one WAL (one fdatasync per
 * loop turn covers every group of the shard), a timer wheel instead of a timer per group, and one batch per
 * destination node per turn; a client RPC server answers appends once committed. Wires @palf/core (the
 * replica), @palf/storage (the WAL) and @palf/transport (NATS or in memory).
 */

export {
  type DiskSpaceOptions,
  defaultReserveBytes,
  type FreeSpace,
  realStatFs,
  type StatFs,
} from "./disk-space-watch.ts";
export { type LaggingGroup, laggingGroups, type NodeObserver } from "./node-metrics.ts";
export { type NodeUnsafeSwitches, nodeUnsafeSwitchNames } from "./node-unsafe.ts";
export { DEFAULT_COMMIT_INFO_DELAY_MS, PalfNode, type PalfNodeOptions } from "./palf-node.ts";
export type { RetentionOptions } from "./retention.ts";
export { type NodeRuntime, realRuntime, type TimerHandle } from "./runtime.ts";
export type { NodeInspector } from "./shard.ts";
export { decodeGroupEntry, encodeGroupEntry, recoverGroups } from "./wal-binding.ts";
