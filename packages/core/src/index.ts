/**
 * @palf/core: one PALF replica as pure code. Events in (messages, ticks, durability reports, appends),
 * effects out through an EffectSink (records to persist, messages to send, results, deadlines).
 * No clocks, timers, files or sockets: the host supplies time, disk and network, which is what lets the
 * simulator in @palf/testkit replay any run from a seed.
 */

export type { AdminOutcome, AppendError, AppendOutcome } from "./append-outcome.ts";
export { baseProblem } from "./base-check.ts";
export type { CoalescedLeases } from "./coalesced-leases.ts";
export {
  hasDuplicates,
  isCounter,
  isGroupId,
  MAX_COUNTER,
  MAX_GROUP_ID,
  MAX_REF_CSN,
} from "./counter-limits.ts";
export type { CsnFloorSource } from "./csn-floor.ts";
export type {
  AppendId,
  EffectSink,
  GroupEntryResult,
  PersistRecord,
  ReplicaEvent,
  RetryResult,
  Role,
} from "./effects.ts";
export type { LeaseOptions } from "./election.ts";
export { type ClientOnlyErrorCode, ERROR_CODES, type ErrorCode, NODE_ERROR_CODES } from "./error-codes.ts";
export {
  entriesOf,
  GROUP_HEADER_BYTES,
  type GroupEntry,
  groupEntryOf,
  groupEntryProblem,
} from "./group-entry.ts";
export type { LogView } from "./group-log.ts";
export {
  ENTRY_HEADER_BYTES,
  EntryKind,
  encodedEntrySize,
  type LogEntry,
  type SessionTag,
} from "./log-entry.ts";
export type { LoopLag } from "./loop-lag.ts";
export {
  applyChange,
  type ConfigChange,
  changeHolds,
  decodeConfig,
  encodeConfig,
  initialConfig,
  isMember,
  quorum,
  replicasOf,
} from "./member-config.ts";
export { messageProblem } from "./message-check.ts";
export type * from "./messages.ts";
export { isLiveness } from "./messages.ts";
export { type DurableImage, defaultLease, type ReplicaOptions } from "./options.ts";
export { hashSeed, Prng } from "./prng.ts";
export { Replica, type ReplicaStatus } from "./replica.ts";
export { roleMachine } from "./role-machine.ts";
export type * from "./types.ts";
export { compareVersion } from "./types.ts";
export { type UnsafeSwitch, type UnsafeSwitches, unsafeSwitchNames } from "./unsafe-switches.ts";
export type { WalSpace } from "./wal-space.ts";
