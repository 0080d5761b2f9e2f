import { Packr } from "msgpackr";
import type { KvValue } from "./kv-limits.ts";

/** One write of a transaction: a value, or null for a delete. */
export interface KvWrite {
  readonly key: string;
  readonly value: KvValue | null;
}

/**
 * A participant's prepare: the transaction's writes on this partition, its snapshot, and where its decision
 * lives (the primary partition). Its CSN is this participant's prepare version.
 */
export interface PrepareRecord {
  readonly type: "prepare";
  readonly txnId: string;
  readonly snapshot: number;
  readonly writes: readonly KvWrite[];
  readonly primary: number;
  /** Every partition the transaction writes (the primary among them), sorted. */
  readonly participants: readonly number[];
}

/** The decision to commit at commitVersion (the first decision in the primary's log counts). */
export interface CommitRecord {
  readonly type: "commit";
  readonly txnId: string;
  readonly commitVersion: number;
}

/** The decision to abort (the first decision in the primary's log counts). */
export interface AbortRecord {
  readonly type: "abort";
  readonly txnId: string;
}

/**
 * A read fence: carries nothing. Appended with refCsn = a reader's snapshot s, its CSN f is >= s and every
 * later entry of the group gets a CSN above f, so a replica that has applied it has seen every entry with
 * CSN <= s that the partition will ever have.
 */
export interface FenceRecord {
  readonly type: "fence";
}

export type KvRecord = PrepareRecord | CommitRecord | AbortRecord | FenceRecord;

/** First byte of every record: a partition log written by a newer format is refused, not misread. */
export const KV_RECORD_VERSION = 1;
const PREPARE = 0;
const COMMIT = 1;
const ABORT = 2;
const FENCE = 3;
/** Structural caps of the decoder, above any configured limit: a record beyond them is malformed. */
const MAX_TXN_ID = 128;
const MAX_WRITES = 100_000;
const MAX_PARTICIPANTS = 100_000;

const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeRecord(r: KvRecord): Uint8Array {
  let body: unknown[];
  if (r.type === "prepare")
    body = [
      PREPARE,
      r.txnId,
      r.snapshot,
      r.writes.map((w) => w.key),
      r.writes.map((w) => w.value),
      r.primary,
      r.participants,
    ];
  else if (r.type === "commit") body = [COMMIT, r.txnId, r.commitVersion];
  else if (r.type === "abort") body = [ABORT, r.txnId];
  else body = [FENCE];
  const packed = packr.pack(body);
  const out = new Uint8Array(packed.length + 1);
  out[0] = KV_RECORD_VERSION;
  out.set(packed, 1);
  return out;
}

export type DecodedRecord =
  | { readonly ok: true; readonly record: KvRecord }
  | { readonly ok: false; readonly error: string };

/**
 * Decodes and validates one record. Anything malformed (foreign payloads in the group included) comes back
 * as an error string, never a throw, so that replay reports it and goes on identically on every server.
 */
export function decodeRecord(payload: Uint8Array): DecodedRecord {
  if (payload.length < 2) return bad(`record of ${payload.length} bytes is too short`);
  if (payload[0] !== KV_RECORD_VERSION)
    return bad(`record version ${payload[0]} is not ${KV_RECORD_VERSION}`);
  let body: unknown;
  try {
    body = packr.unpack(payload.subarray(1));
  } catch (e) {
    return bad(`record body does not decode: ${(e as Error).message}`);
  }
  if (!Array.isArray(body) || body.length < 1) return bad("record body is not an array");
  if (body[0] === FENCE)
    return body.length === 1 ? { ok: true, record: { type: "fence" } } : bad("fence record has fields");
  const [kind, txnId] = body as unknown[];
  if (typeof txnId !== "string" || txnId.length === 0 || txnId.length > MAX_TXN_ID)
    return bad("txnId is not a string of 1..128 characters");
  if (kind === COMMIT) {
    if (body.length !== 3) return bad("commit record has the wrong field count");
    const v = body[2];
    if (!isNat(v)) return bad("commitVersion is not a natural number below 2^53");
    return { ok: true, record: { type: "commit", txnId, commitVersion: v } };
  }
  if (kind === ABORT) {
    if (body.length !== 2) return bad("abort record has the wrong field count");
    return { ok: true, record: { type: "abort", txnId } };
  }
  if (kind !== PREPARE) return bad(`unknown record kind ${String(kind)}`);
  if (body.length !== 7) return bad("prepare record has the wrong field count");
  const [, , snapshot, keys, values, primary, participants] = body as unknown[];
  if (!isNat(snapshot)) return bad("snapshot is not a natural number below 2^53");
  if (!Array.isArray(keys) || !Array.isArray(values) || keys.length !== values.length)
    return bad("writes are not two arrays of one length");
  if (keys.length === 0 || keys.length > MAX_WRITES) return bad(`a prepare writes ${keys.length} keys`);
  const seen = new Set<string>();
  const writes: KvWrite[] = [];
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const value = values[i];
    if (typeof key !== "string" || key.length === 0) return bad(`write ${i}: key is not a non-empty string`);
    if (seen.has(key)) return bad(`write ${i}: key written twice`);
    seen.add(key);
    if (value !== null && typeof value !== "string" && !(value instanceof Uint8Array))
      return bad(`write ${i}: value is not a string, bytes or null`);
    // Unpacked bytes share the entry's buffer; copy so state does not pin whole read pages.
    writes.push({
      key,
      value: value instanceof Uint8Array ? Uint8Array.from(value) : (value as KvValue | null),
    });
  }
  if (!isNat(primary)) return bad("primary is not a partition number");
  if (!Array.isArray(participants) || participants.length === 0 || participants.length > MAX_PARTICIPANTS)
    return bad("participants is not a non-empty array");
  for (let i = 0; i < participants.length; i++) {
    const p = participants[i];
    if (!isNat(p)) return bad(`participant ${i} is not a partition number`);
    if (i > 0 && p <= (participants[i - 1] as number)) return bad("participants are not sorted and unique");
  }
  if (!participants.includes(primary)) return bad("the primary is not a participant");
  return {
    ok: true,
    record: { type: "prepare", txnId, snapshot, writes, primary, participants: participants as number[] },
  };
}

function isNat(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

function bad(error: string): DecodedRecord {
  return { ok: false, error };
}
