/**
 * @palf/kv: a partitioned transactional store on PALF groups. Each partition's redo log is one group; a
 * partition's state (MVCC versions and locks) is a pure function of its log, and every decision is made
 * when a record is applied in log order. Transactions: snapshot from GTS, 2PC with OceanBase's version rule
 * (commit version = max prepare version) and a Percolator-style primary whose first decision record is the
 * decision; commit wait before the answer; transaction CDC in commit-version order.
 */

export { countedKvCluster, type KvCallCounts } from "./counted-kv-cluster.ts";
export {
  type CreateStoreOptions,
  createStore,
  DEFAULT_CATALOG_GROUP,
  readPartitionMap,
} from "./kv-catalog.ts";
export { appendFailed, type KvCluster, type KvLogPage } from "./kv-cluster.ts";
export { asKvError, KvError, type KvErrorCode } from "./kv-error.ts";
export { checkKey, checkValue, DEFAULT_LIMITS, type KvLimits, type KvValue } from "./kv-limits.ts";
export {
  type AbortRecord,
  type CommitRecord,
  type DecodedRecord,
  decodeRecord,
  encodeRecord,
  KV_RECORD_VERSION,
  type KvRecord,
  type KvWrite,
  type PrepareRecord,
} from "./kv-record.ts";
export {
  checkRequest,
  KV_RPC_VERSION,
  type KvRequest,
  type RemoteKvOptions,
  RemoteKvService,
  requestMapVersion,
  serveKv,
} from "./kv-rpc.ts";
export { delay, type KvRuntime, type KvTimer, realKvRuntime } from "./kv-runtime.ts";
export type { KvService, ScanItem, VersionedValue } from "./kv-service.ts";
export {
  bounds,
  type KeyRange,
  Kv,
  type OpenKvOptions,
  openKv,
  type ReadOptions,
  type ScanOptions,
  Txn,
  type TxnResult,
} from "./kv-store.ts";
export {
  consultedKvSwitches,
  type KvUnsafeSwitches,
  kvUnsafe,
  kvUnsafeOn,
  kvUnsafeSwitchNames,
  withKvUnsafe,
} from "./kv-unsafe.ts";
export { palfKvCluster } from "./palf-kv-cluster.ts";
export { type Decision, decisionOf, PartitionHost, type PartitionHostOptions } from "./partition-host.ts";
export {
  checkPartitionMap,
  decodePartitionMap,
  encodePartitionMap,
  foldCatalog,
  type PartitionMap,
  partitionOf,
} from "./partition-map.ts";
export {
  PartitionReplica,
  type ReadFence,
  type ReplicaOptions,
  readFenceKinds,
} from "./partition-replica.ts";
export {
  type ApplyOutcome,
  compareKeys,
  DEFAULT_MAX_TXN_AGE_US,
  type KeyVersion,
  type PartitionEntry,
  PartitionState,
  type PartitionStateOptions,
  type ReadResult,
  type TxnState,
  type TxnView,
} from "./partition-state.ts";
export { type CheckpointStore, StoreServer, type StoreServerOptions } from "./store-server.ts";
export {
  cdcCursorPosition,
  TxnCdc,
  type TxnCdcCheckpoint,
  type TxnCdcOptions,
  type TxnChange,
} from "./txn-cdc.ts";
export { commitStats } from "./txn-commit.ts";
