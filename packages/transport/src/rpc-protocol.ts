import {
  type ClientOnlyErrorCode,
  type ErrorCode,
  hasDuplicates,
  isCounter,
  isGroupId,
  MAX_REF_CSN,
  NODE_ERROR_CODES,
} from "@palf/core";
import { Packr } from "msgpackr";
import {
  APPEND_ANSWER_FORMAT,
  APPEND_REQUEST_FORMAT,
  decodeAppendAnswer,
  decodeAppendRequest,
  encodeAppendAnswer,
  encodeAppendRequest,
} from "./append-wire.ts";
import {
  decodeMembershipRequest,
  type MembershipRequest,
  type MembershipResponse,
} from "./membership-protocol.ts";

/**
 * Client <-> node RPC on `palf.<cluster>.rpc.<nodeId>`: one msgpack request, one msgpack response; appends
 * and their answers in the binary layout of append-wire.ts (the first byte tells the two apart).
 * Appends are answered once their explicit result is known (committed, or an error per entry), so a
 * client that got `{lsn, csn}` knows the entry is committed.
 */
export const RPC_VERSION = 1;

export interface AppendItem {
  readonly payload: Uint8Array;
  readonly refCsn?: number;
  /** Client session for idempotent retries: (id, seq) is recognised by the leader and its successor. */
  readonly session?: { readonly id: number; readonly seq: number };
  /**
   * A resend after an attempt whose outcome the client does not know (timeout, lost connection). A leader
   * that cannot prove such a (session, seq) never committed answers INDETERMINATE instead of appending it.
   */
  readonly retry?: boolean;
}

export type RpcRequest =
  | { readonly op: "append"; readonly group: number; readonly items: readonly AppendItem[] }
  | {
      readonly op: "read";
      readonly group: number;
      readonly fromLsn: number;
      readonly maxEntries?: number;
      readonly maxBytes?: number;
    }
  | { readonly op: "locate"; readonly group: number; readonly csn: number }
  /** The leader-answered read fence: a watermark of the group at w >= csn (node's watermark-fence.ts). */
  | { readonly op: "fence"; readonly group: number; readonly csn: number }
  | { readonly op: "status"; readonly group?: number }
  | {
      readonly op: "createGroup";
      readonly group: number;
      readonly members: readonly string[];
      readonly learners?: readonly string[];
      readonly inc?: number;
    }
  | { readonly op: "deleteGroup"; readonly group: number }
  | { readonly op: "transferLeader"; readonly group: number; readonly target: string }
  /** Recycling: this node's replica may drop entries below `lsn` (at most its committed end). */
  | { readonly op: "advanceBase"; readonly group: number; readonly lsn: number }
  /** `count` timestamps from the GTS leader: the answer is the range [start, start + count). */
  | { readonly op: "gts"; readonly count: number }
  | MembershipRequest;

/** Most timestamps one GTS request may ask for. */
export const MAX_GTS_COUNT = 1 << 20;

/** Why a request, or one append of a batch, was not done: a node's codes of the one table (core's ERROR_CODES). */
export type RpcErrorCode = Exclude<ErrorCode, ClientOnlyErrorCode>;

/** Every code a node may answer with (a checker's list of clear answers). */
export const RPC_ERROR_CODES: readonly RpcErrorCode[] = NODE_ERROR_CODES;

export interface RpcError {
  readonly code: RpcErrorCode;
  readonly message?: string;
  /** Where the leader is, when the node knows (NOT_LEADER). */
  readonly leader?: string;
}

export type AppendOutcomeWire = { readonly lsn: number; readonly csn: number } | { readonly error: RpcError };

export interface ReadEntryWire {
  readonly lsn: number;
  readonly csn: number;
  readonly payload: Uint8Array;
}

export type RpcResponse =
  | { readonly ok: true; readonly op: "append"; readonly results: readonly AppendOutcomeWire[] }
  | {
      readonly ok: true;
      readonly op: "read";
      readonly entries: readonly ReadEntryWire[];
      readonly committedEnd: number;
      /** LSN to continue from (past the last entry returned, or committedEnd). */
      readonly next: number;
      /** The page ends early, below what was asked, because one reply frame holds no more. */
      readonly frameLimited?: true;
    }
  | { readonly ok: true; readonly op: "locate"; readonly entry: ReadEntryWire | null }
  /** No entry of the group with CSN <= w will be committed at or past `lsn` (a published watermark vouch). */
  | { readonly ok: true; readonly op: "fence"; readonly w: number; readonly lsn: number }
  | { readonly ok: true; readonly op: "status"; readonly status: unknown }
  | { readonly ok: true; readonly op: "createGroup" | "deleteGroup" | "transferLeader" }
  | { readonly ok: true; readonly op: "advanceBase"; readonly base: number }
  | { readonly ok: true; readonly op: "gts"; readonly start: number; readonly count: number }
  | MembershipResponse
  | {
      readonly ok: false;
      readonly error: RpcError;
      /** Set by the decoder when the answer's bytes could not be read: says nothing of what the node did. */
      readonly unreadable?: true;
    };

/** Leadership events on `palf.<cluster>.events.leader`, batched per node. */
export interface LeaderEvent {
  readonly group: number;
  readonly leader: string;
  readonly pid: number;
}

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeRpc(value: RpcRequest | RpcResponse | readonly LeaderEvent[]): Uint8Array {
  const v = value as Record<string, unknown>;
  if (v.op === "append") {
    if (v.ok === undefined) {
      const bytes = encodeAppendRequest(v.group, v.items);
      if (bytes) return bytes;
    } else if (v.ok === true && Array.isArray(v.results)) {
      return encodeAppendAnswer(v.results as AppendOutcomeWire[], (e) => packr.pack(e));
    }
  }
  const body = packr.pack(value);
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = RPC_VERSION;
  body.copy(out, 1);
  return out;
}

/** Decodes and checks the shape of a request; bad input gives a reason, never a throw. */
export function decodeRequest(bytes: Uint8Array): RpcRequest | { bad: string } {
  if (bytes instanceof Uint8Array && bytes[0] === APPEND_REQUEST_FORMAT) {
    const a = decodeAppendRequest(bytes);
    return "bad" in a ? a : { op: "append", group: a.group, items: a.items };
  }
  const v = unpack(bytes);
  if (typeof v === "string") return { bad: v };
  const r = v as Record<string, unknown>;
  // Ids and counters must fit what storage and the replicas hold (counter-limits.ts): refused here, at the edge.
  const nat = isCounter;
  const ids = (x: unknown) =>
    Array.isArray(x) &&
    x.length > 0 &&
    x.every((i) => typeof i === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(i));
  switch (r.op) {
    case "append": {
      if (!isGroupId(r.group) || !Array.isArray(r.items) || r.items.length === 0)
        return { bad: "append needs a group id (uint32) and items" };
      for (const it of r.items as unknown[]) {
        const i = it as Record<string, unknown>;
        if (typeof i !== "object" || i === null || !(i.payload instanceof Uint8Array))
          return { bad: "item payload must be bytes" };
        if (i.refCsn !== undefined && !(nat(i.refCsn) && i.refCsn <= MAX_REF_CSN))
          return { bad: "refCsn must be a natural number up to 2^52 - 2^32" };
        const s = i.session as Record<string, unknown> | undefined;
        if (s !== undefined && (typeof s !== "object" || s === null || !nat(s.id) || !nat(s.seq)))
          return { bad: "bad session" };
        if (i.retry !== undefined && typeof i.retry !== "boolean") return { bad: "retry must be a boolean" };
      }
      return r as unknown as RpcRequest;
    }
    case "read":
      if (!isGroupId(r.group) || !nat(r.fromLsn))
        return { bad: "read needs a group id (uint32) and fromLsn" };
      if (
        (r.maxEntries !== undefined && !nat(r.maxEntries)) ||
        (r.maxBytes !== undefined && !nat(r.maxBytes))
      ) {
        return { bad: "bad limits" };
      }
      return r as unknown as RpcRequest;
    case "locate":
      return isGroupId(r.group) && nat(r.csn)
        ? (r as unknown as RpcRequest)
        : { bad: "locate needs group and csn" };
    case "fence":
      return isGroupId(r.group) && nat(r.csn)
        ? (r as unknown as RpcRequest)
        : { bad: "fence needs a group id (uint32) and csn" };
    case "status":
      return r.group === undefined || isGroupId(r.group)
        ? (r as unknown as RpcRequest)
        : { bad: "bad group" };
    case "createGroup":
      if (!isGroupId(r.group) || !ids(r.members))
        return { bad: "createGroup needs a group id (uint32) and members (ids: [A-Za-z0-9_-])" };
      if (
        r.learners !== undefined &&
        !(Array.isArray(r.learners) && (r.learners.length === 0 || ids(r.learners)))
      ) {
        return { bad: "bad learners" };
      }
      if (r.inc !== undefined && !nat(r.inc)) return { bad: "bad inc" };
      if (hasDuplicates([...(r.members as string[]), ...((r.learners as string[] | undefined) ?? [])]))
        return { bad: "createGroup lists a node twice (members and learners must be distinct node ids)" };
      return r as unknown as RpcRequest;
    case "deleteGroup":
      return isGroupId(r.group) ? (r as unknown as RpcRequest) : { bad: "deleteGroup needs group" };
    case "advanceBase":
      return isGroupId(r.group) && nat(r.lsn)
        ? (r as unknown as RpcRequest)
        : { bad: "advanceBase needs group and lsn" };
    case "gts":
      return Number.isSafeInteger(r.count) && (r.count as number) >= 1 && (r.count as number) <= MAX_GTS_COUNT
        ? (r as unknown as RpcRequest)
        : { bad: `gts needs a count in [1, ${MAX_GTS_COUNT}]` };
    case "transferLeader":
      return isGroupId(r.group) && typeof r.target === "string"
        ? (r as unknown as RpcRequest)
        : { bad: "transferLeader needs group and target" };
    case "changeConfig":
    case "groups":
      return decodeMembershipRequest(r);
    default:
      return { bad: `unknown op ${String(r.op)}` };
  }
}

export function decodeResponse(bytes: Uint8Array): RpcResponse {
  if (bytes instanceof Uint8Array && bytes[0] === APPEND_ANSWER_FORMAT) {
    const results = decodeAppendAnswer(bytes, decodeError);
    if (typeof results === "string")
      return {
        ok: false,
        error: { code: "INTERNAL", message: `bad response: ${results}` },
        unreadable: true,
      };
    return { ok: true, op: "append", results: results as AppendOutcomeWire[] };
  }
  const v = unpack(bytes);
  if (typeof v === "string")
    return { ok: false, error: { code: "INTERNAL", message: `bad response: ${v}` }, unreadable: true };
  return v as RpcResponse;
}

export function decodeLeaderEvents(bytes: Uint8Array): LeaderEvent[] {
  const v = unpack(bytes);
  if (!Array.isArray(v)) return [];
  return v.filter(
    (e): e is LeaderEvent =>
      typeof e === "object" &&
      e !== null &&
      Number.isSafeInteger(e.group) &&
      typeof e.leader === "string" &&
      Number.isSafeInteger(e.pid),
  );
}

/** An error item of a binary append answer (msgpack); an unreadable one reads as INTERNAL. */
function decodeError(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch (err) {
    return { code: "INTERNAL", message: `undecodable error: ${(err as Error).message}` };
  }
}

function unpack(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array) || bytes.length < 2) return "empty";
  if (bytes[0] !== RPC_VERSION) return `version ${bytes[0]} is not ${RPC_VERSION}`;
  try {
    const v = packr.unpack(bytes.subarray(1));
    return typeof v === "object" && v !== null ? v : "not an object";
  } catch (err) {
    return `undecodable: ${(err as Error).message}`;
  }
}
