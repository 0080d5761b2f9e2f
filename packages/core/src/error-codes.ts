/**
 * Every error code of palf-ts in one table: what a replica answers an append with, what a node answers a
 * request with on the wire, and what the client SDK adds when no node answered. Each layer's type is a subset
 * of `ErrorCode` (core's AppendError, transport's RpcErrorCode, client's PalfErrorCode), so a code keeps its
 * name and meaning from the replica to the caller with no translation on the way.
 */
export const ERROR_CODES = {
  NOT_LEADER: "this replica does not lead the group (the answer names the leader when known)",
  UNKNOWN_GROUP: "no such group on this node",
  BAD_REQUEST: "a malformed request or argument (payload, refCsn, session, ids, members)",
  BUSY: "the leader is changing members, transferring, or waiting for a GTS floor: retry",
  BACKPRESSURE: "no room (WAL budget, free disk, pending bytes): retry once room returns",
  TOO_LARGE: "the payload is larger than one entry may be",
  FAILED: "the entry will never be committed",
  INDETERMINATE: "whether the entry was committed cannot be known here: read the log to know",
  HALTED: "the replica left service (a write error, or a safety halt)",
  NOT_WRITABLE: "the group takes no appends (set read-only)",
  TIMEOUT: "no answer, or no result, in time",
  STOPPING: "the node is stopping",
  RECYCLED: "the LSN was recycled: the log starts later",
  FORBIDDEN: "an admin request that did not come on the admin subject",
  INTERNAL: "a bug on the node",
  UNAVAILABLE: "(client) no node answered: no responders, connection trouble",
  CLOSED: "(client) the client or its transport was closed",
  ABORTED: "(client) the caller's AbortSignal fired",
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The codes only the client SDK produces: no node ever sends them. */
export type ClientOnlyErrorCode = "UNAVAILABLE" | "CLOSED" | "ABORTED";

/** The codes a node may answer with. */
export const NODE_ERROR_CODES = (Object.keys(ERROR_CODES) as ErrorCode[]).filter(
  (c): c is Exclude<ErrorCode, ClientOnlyErrorCode> =>
    c !== "UNAVAILABLE" && c !== "CLOSED" && c !== "ABORTED",
);
