/**
 * @palf/client: the SDK applications use to talk to a palf cluster. Appends are batched per group (one
 * request per group per event loop turn, a bounded number in flight), routed to the group's leader
 * (leadership events, NOT_LEADER redirects, the seed list) and retried idempotently (a session id and a
 * seq per append), and resolve only once committed, with the entry's LSN and CSN; every failure is a typed
 * PalfError (FAILED: never committed, INDETERMINATE: unknown). Reads return committed entries: a page, all
 * of them up to the committed end, or a tail that keeps following. Admin calls create and delete groups,
 * report node status and move leadership. Runs over NATS or any Transport (in memory for tests and demos).
 *
 * Credentials: pass NATS options in `connection` (`credentialsFromFiles({ user, passFile })` reads them
 * from files). Appends, reads, tails and timestamps need a client credential; createGroup, deleteGroup,
 * transferLeader and advanceBase go on the admin subject and need an admin credential
 * (docker/nats-roles.conf).
 */

export type {
  ConfigChange,
  CursorPosition,
  CursorRecord,
  DiskStatus,
  GroupSummary,
  MemberConfig,
} from "@palf/transport";
/** Reads NATS user/password or token credentials from files, for `connection`. */
export {
  type CredentialFiles,
  CURSOR_GROUP,
  credentialsFromFiles,
  readSecretFile,
  SecretFileError,
} from "@palf/transport";
export type { CommittedAppend } from "./appender.ts";
export {
  type ClientOptions,
  type ConnectOptions,
  type CreateGroupOptions,
  type CreateGroupResult,
  connect,
  type DeleteGroupResult,
  type NodeStatusReport,
  PalfClient,
} from "./client.ts";
export { type CursorReport, Cursors } from "./cursors.ts";
export type { AppendOptions, Group, ReadEntry, ReadOptions, ReadPage, TailOptions } from "./group.ts";
export {
  type ChangeOptions,
  type ChangeResult,
  type ClusterOverview,
  describeChange,
  type GroupOverview,
  Membership,
} from "./membership.ts";
export { drainNode, type NodeMoveOptions, type NodeMoveReport, replaceNode } from "./node-move.ts";
export type { NodeStatus, TornTailReport } from "./node-status.ts";
export { PalfError, type PalfErrorCode } from "./palf-error.ts";
export type { BackoffOptions } from "./retry-policy.ts";
