import { isCounter, isGroupId, MAX_REF_CSN } from "@palf/core";

/**
 * The append request and its answer in a fixed binary layout instead of msgpack maps: appends are most of
 * the RPC traffic, and msgpack spends its time on them packing a map and a small Buffer per item (the
 * client) and reading the maps back (the node). Every other request stays msgpack (rpc-protocol.ts).
 *
 *   request  APPEND_REQUEST_FORMAT, group u32, count u32, then per item:
 *            flags u8 (SESSION | REF_CSN | RETRY), [session id f64, seq f64], [refCsn f64], length u32, payload
 *   answer   APPEND_ANSWER_FORMAT, count u32, then per item:
 *            0, lsn f64, csn f64   (committed)   or   1, length u32, msgpack'd RpcError
 *
 * Counters travel as float64 (exact up to 2^53; every counter is at most 2^52). Integers are big-endian.
 */
export const APPEND_REQUEST_FORMAT = 0x41;
export const APPEND_ANSWER_FORMAT = 0x61;

const SESSION = 1;
const REF_CSN = 2;
const RETRY = 4;

/** The fields of an append item this layout carries (rpc-protocol's AppendItem). */
export interface AppendItemFields {
  readonly payload: Uint8Array;
  readonly refCsn?: number;
  readonly session?: { readonly id: number; readonly seq: number };
  readonly retry?: boolean;
}

/**
 * The binary request, or undefined when the request is not one this layout can carry exactly (anything a
 * well-behaved client never sends: those go as msgpack, and the node's checks answer them as before).
 */
export function encodeAppendRequest(group: unknown, items: unknown): Buffer | undefined {
  if (!isGroupId(group) || !Array.isArray(items) || items.length === 0) return undefined;
  let size = 9;
  for (const it of items as unknown[]) {
    if (typeof it !== "object" || it === null) return undefined;
    const i = it as Record<string, unknown>;
    if (!(i.payload instanceof Uint8Array)) return undefined;
    if (i.refCsn !== undefined && !isCounter(i.refCsn)) return undefined;
    if (i.retry !== undefined && typeof i.retry !== "boolean") return undefined;
    const s = i.session as Record<string, unknown> | undefined;
    if (s !== undefined && (typeof s !== "object" || s === null || !isCounter(s.id) || !isCounter(s.seq)))
      return undefined;
    size += 5 + (s ? 16 : 0) + (i.refCsn !== undefined ? 8 : 0) + i.payload.length;
  }
  const out = Buffer.allocUnsafe(size);
  out[0] = APPEND_REQUEST_FORMAT;
  out.writeUInt32BE(group, 1);
  out.writeUInt32BE(items.length, 5);
  let at = 9;
  for (const i of items as AppendItemFields[]) {
    const flags = (i.session ? SESSION : 0) | (i.refCsn !== undefined ? REF_CSN : 0) | (i.retry ? RETRY : 0);
    out[at++] = flags;
    if (i.session) {
      out.writeDoubleBE(i.session.id, at);
      out.writeDoubleBE(i.session.seq, at + 8);
      at += 16;
    }
    if (i.refCsn !== undefined) {
      out.writeDoubleBE(i.refCsn, at);
      at += 8;
    }
    out.writeUInt32BE(i.payload.length, at);
    out.set(i.payload, at + 4);
    at += 4 + i.payload.length;
  }
  return out;
}

/**
 * Reads a binary append request; payloads are views into `bytes` (the leader copies each into its open
 * group entry). Bad input gives a reason, never a throw.
 */
export function decodeAppendRequest(
  bytes: Uint8Array,
): { group: number; items: AppendItemFields[] } | { bad: string } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 9) return { bad: "append request truncated" };
  const group = b.readUInt32BE(1);
  const count = b.readUInt32BE(5);
  if (count === 0) return { bad: "append needs a group id (uint32) and items" };
  // Each item takes at least 5 bytes: a count beyond that is a lie, refused before anything is allocated.
  if (count > (b.length - 9) / 5) return { bad: "append request truncated" };
  const items: AppendItemFields[] = [];
  let at = 9;
  for (let k = 0; k < count; k++) {
    if (at + 1 > b.length) return { bad: "append request truncated" };
    const flags = b[at++]!;
    if ((flags & ~(SESSION | REF_CSN | RETRY)) !== 0) return { bad: `unknown append item flags ${flags}` };
    const fixed = (flags & SESSION ? 16 : 0) + (flags & REF_CSN ? 8 : 0) + 4;
    if (at + fixed > b.length) return { bad: "append request truncated" };
    let session: { id: number; seq: number } | undefined;
    if (flags & SESSION) {
      session = { id: b.readDoubleBE(at), seq: b.readDoubleBE(at + 8) };
      at += 16;
      if (!isCounter(session.id) || !isCounter(session.seq)) return { bad: "bad session" };
    }
    let refCsn: number | undefined;
    if (flags & REF_CSN) {
      refCsn = b.readDoubleBE(at);
      at += 8;
      if (!(isCounter(refCsn) && refCsn <= MAX_REF_CSN))
        return { bad: "refCsn must be a natural number up to 2^52 - 2^32" };
    }
    const len = b.readUInt32BE(at);
    at += 4;
    if (at + len > b.length) return { bad: "append item runs past the end" };
    const payload = b.subarray(at, at + len);
    at += len;
    const item: {
      payload: Uint8Array;
      session?: { id: number; seq: number };
      refCsn?: number;
      retry?: boolean;
    } = { payload };
    if (session) item.session = session;
    if (refCsn !== undefined) item.refCsn = refCsn;
    if (flags & RETRY) item.retry = true;
    items.push(item);
  }
  if (at !== b.length) return { bad: "bytes after the last append item" };
  return { group, items };
}

/** One append's answer: committed at (lsn, csn), or an error (its bytes are the caller's encoding). */
export type AppendAnswerFields = { readonly lsn: number; readonly csn: number } | { readonly error: unknown };

/** The binary answer; `encodeError` writes an error item (msgpack, as every other RPC error). */
export function encodeAppendAnswer(
  results: readonly AppendAnswerFields[],
  encodeError: (error: unknown) => Uint8Array,
): Buffer {
  const errors = new Map<number, Uint8Array>();
  let size = 5;
  for (let k = 0; k < results.length; k++) {
    const r = results[k]!;
    if ("error" in r) {
      const e = encodeError(r.error);
      errors.set(k, e);
      size += 5 + e.length;
    } else size += 17;
  }
  const out = Buffer.allocUnsafe(size);
  out[0] = APPEND_ANSWER_FORMAT;
  out.writeUInt32BE(results.length, 1);
  let at = 5;
  for (let k = 0; k < results.length; k++) {
    const e = errors.get(k);
    if (e !== undefined) {
      out[at] = 1;
      out.writeUInt32BE(e.length, at + 1);
      out.set(e, at + 5);
      at += 5 + e.length;
      continue;
    }
    const r = results[k] as { lsn: number; csn: number };
    out[at] = 0;
    out.writeDoubleBE(r.lsn, at + 1);
    out.writeDoubleBE(r.csn, at + 9);
    at += 17;
  }
  return out;
}

/** Reads a binary answer; `decodeError` reads an error item. A reason for malformed input, never a throw. */
export function decodeAppendAnswer(
  bytes: Uint8Array,
  decodeError: (bytes: Uint8Array) => unknown,
): AppendAnswerFields[] | string {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 5) return "append answer truncated";
  const count = b.readUInt32BE(1);
  if (count > (b.length - 5) / 5) return "append answer truncated";
  const out: AppendAnswerFields[] = [];
  let at = 5;
  for (let k = 0; k < count; k++) {
    const kind = b[at];
    if (kind === 0 && at + 17 <= b.length) {
      out.push({ lsn: b.readDoubleBE(at + 1), csn: b.readDoubleBE(at + 9) });
      at += 17;
    } else if (kind === 1 && at + 5 <= b.length) {
      const len = b.readUInt32BE(at + 1);
      if (at + 5 + len > b.length) return "append answer truncated";
      out.push({ error: decodeError(b.subarray(at + 5, at + 5 + len)) });
      at += 5 + len;
    } else return kind === 0 || kind === 1 ? "append answer truncated" : `unknown append answer kind ${kind}`;
  }
  return at === b.length ? out : "bytes after the last append answer";
}
