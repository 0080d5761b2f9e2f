/**
 * @palf/transport: how palf nodes talk. A peer codec packs everything one shard sends to one peer node in
 * one loop turn (pushes, acks, votes... for many groups) into one versioned frame, liveness first, cut
 * below NATS's max payload, and validates every message on the way in (bad input is counted and dropped,
 * never thrown). One Transport interface carries those frames on `palf.<cluster>.node.<nodeId>.<shard>`,
 * client RPC, and the gts/events topics, over a real NATS server or over an in-process bus for the
 * single-process demo and tests. It knows core's message types and nothing of storage or the node runtime.
 */

/** NATS authenticators for credentials files (JWT + nkey seed) and bare nkey seeds, passed through `connection`. */
export { credsAuthenticator, nkeyAuthenticator } from "@nats-io/transport-node";
/** The one error table (every code from replica to client) and its types. */
/** What ids and counters on the wire may be (the RPC decoder refuses the rest with BAD_REQUEST). */
export {
  type ClientOnlyErrorCode,
  ERROR_CODES,
  type ErrorCode,
  isCounter,
  isGroupId,
  MAX_COUNTER,
  MAX_GROUP_ID,
  MAX_REF_CSN,
} from "@palf/core";
export {
  CURSOR_GROUP,
  type CursorPosition,
  type CursorRecord,
  CursorTable,
  cursorNameProblem,
  decodeCursorRecord,
  encodeCursorRecord,
} from "./cursor-record.ts";
export type { DiskStatus } from "./disk-status.ts";
export {
  type ConfigChange,
  changeHolds,
  type GroupSummary,
  MAX_CHANGE_WAIT_MS,
  MAX_GROUPS_PAGE,
  type MemberConfig,
  type MembershipRequest,
  type MembershipResponse,
} from "./membership-protocol.ts";
export { MemoryBus, MemoryTransport, type MemoryTransportOptions } from "./memory-transport.ts";
export { type NatsClusterProcess, startNatsCluster } from "./nats-cluster-process.ts";
export {
  type CredentialFiles,
  credentialsFromFiles,
  readSecretFile,
  SecretFileError,
} from "./nats-credentials.ts";
export {
  findNatsServer,
  type NatsServerOptions,
  type NatsServerProcess,
  startNatsServer,
} from "./nats-server-process.ts";
export { connectNatsTransport, NatsTransport, type NatsTransportOptions } from "./nats-transport.ts";
export {
  DEFAULT_MAX_FRAME_BYTES,
  type DecodedBatch,
  type DecodeOptions,
  decodeFrame,
  encodeBatches,
  FrameTooLargeError,
  PEER_FRAME_VERSION,
  type Rejection,
} from "./peer-codec.ts";
export { ADMIN_OPS, isAdminOp } from "./peer-identity.ts";
export { maxAppendItems, REPLY_FRAMING_BYTES } from "./reply-limit.ts";
/** How several RPC requests (and their replies) share one NATS message: what a raw caller of the subject decodes. */
export { type BundleItem, decodeBundle, isBundle } from "./rpc-bundle.ts";
export {
  type AppendItem,
  type AppendOutcomeWire,
  decodeLeaderEvents,
  decodeRequest,
  decodeResponse,
  encodeRpc,
  type LeaderEvent,
  MAX_GTS_COUNT,
  type ReadEntryWire,
  RPC_ERROR_CODES,
  RPC_VERSION,
  type RpcError,
  type RpcErrorCode,
  type RpcRequest,
  type RpcResponse,
} from "./rpc-protocol.ts";
export { delay, type Runtime, realRuntime, type TimerHandle } from "./runtime.ts";
export { adminSubject, type NodeId, peerSubject, rpcSubject, type Topic, topicSubject } from "./subjects.ts";
export type {
  FrameHandler,
  Logger,
  MessagesHandler,
  Outbound,
  RequestOptions,
  RpcHandler,
  RpcVia,
  TopicHandler,
  Transport,
  TransportErrorCode,
  TransportStats,
  TransportStatus,
  Unsubscribe,
} from "./transport.ts";
export { TransportError } from "./transport.ts";
export {
  decodeWatermarks,
  encodeWatermarks,
  WATERMARK_GONE,
  WATERMARK_HELD,
  type WatermarkBatch,
} from "./watermark-batch.ts";
export { WatermarkView, type WatermarkVisit } from "./watermark-view.ts";
