import type { Csn, Lsn } from "./types.ts";

/** What an entry in the log is: user data, a membership config, or a new leader's StartWorking. */
export const EntryKind = { data: 0, config: 1, startWorking: 2 } as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

/** A client session's identity for idempotent appends: a retried (id, seq) is recognised from the log. */
export interface SessionTag {
  readonly id: number;
  readonly seq: number;
}

/** One entry of a group's log, decoded from its group entry: with its kind and session (the client's `ReadEntry` is a data entry as a user reads it). */
export interface LogEntry {
  readonly lsn: Lsn;
  readonly csn: Csn;
  readonly kind: EntryKind;
  readonly payload: Uint8Array;
  readonly session?: SessionTag;
}

/**
 * Layout of one entry inside a group entry's body (little endian):
 *   u32 payload length | u8 kind | u8 flags | u16 zero | f64 csn | [f64 session id | f64 session seq] | payload
 * f64 holds integers below 2^53 exactly, which CSNs are by definition.
 */
export const ENTRY_HEADER_BYTES = 16;
export const SESSION_BYTES = 16;
const FLAG_SESSION = 1;

export function encodedEntrySize(payloadBytes: number, session: boolean): number {
  return ENTRY_HEADER_BYTES + (session ? SESSION_BYTES : 0) + payloadBytes;
}

/** Writes one entry at `at` in `buf` and returns the offset after it. */
export function writeEntry(
  buf: Buffer,
  at: number,
  kind: EntryKind,
  csn: Csn,
  payload: Uint8Array,
  session: SessionTag | undefined,
): number {
  buf.writeUInt32LE(payload.length, at);
  buf[at + 4] = kind;
  buf[at + 5] = session ? FLAG_SESSION : 0;
  buf.writeUInt16LE(0, at + 6);
  buf.writeDoubleLE(csn, at + 8);
  let p = at + ENTRY_HEADER_BYTES;
  if (session) {
    buf.writeDoubleLE(session.id, p);
    buf.writeDoubleLE(session.seq, p + 8);
    p += SESSION_BYTES;
  }
  buf.set(payload, p);
  return p + payload.length;
}

/** Reads the entry at `at` of `body`; `lsn` is its position in the virtual log. Throws on a malformed body. */
export function readEntry(body: Uint8Array, at: number, lsn: Lsn): { entry: LogEntry; next: number } {
  const view = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (at + ENTRY_HEADER_BYTES > view.length) throw new Error(`entry header at ${at} runs past the body`);
  const len = view.readUInt32LE(at);
  const kind = view[at + 4] as EntryKind;
  const flags = view[at + 5]!;
  const csn = view.readDoubleLE(at + 8);
  let p = at + ENTRY_HEADER_BYTES;
  let session: SessionTag | undefined;
  if (flags & FLAG_SESSION) {
    session = { id: view.readDoubleLE(p), seq: view.readDoubleLE(p + 8) };
    p += SESSION_BYTES;
  }
  if (p + len > view.length || kind > EntryKind.startWorking) throw new Error(`malformed entry at ${at}`);
  const payload = view.subarray(p, p + len);
  const entry: LogEntry = session ? { lsn, csn, kind, payload, session } : { lsn, csn, kind, payload };
  return { entry, next: p + len };
}

/**
 * Calls `fn` with the session tag, LSN and CSN of every entry in `body` that carries one, without decoding
 * payloads (a follower learns sessions from each group entry it takes). Throws on a malformed body.
 */
export function forEachSession(
  body: Uint8Array,
  firstLsn: Lsn,
  fn: (tag: SessionTag, lsn: Lsn, csn: Csn) => void,
): void {
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  let at = 0;
  while (at < body.length) {
    if (at + ENTRY_HEADER_BYTES > body.length) throw new Error(`entry header at ${at} runs past the body`);
    const len = view.getUint32(at, true);
    let p = at + ENTRY_HEADER_BYTES;
    if (body[at + 5]! & FLAG_SESSION) {
      const tag = { id: view.getFloat64(p, true), seq: view.getFloat64(p + 8, true) };
      fn(tag, firstLsn + at, view.getFloat64(at + 8, true));
      p += SESSION_BYTES;
    }
    if (p + len > body.length || body[at + 4]! > EntryKind.startWorking)
      throw new Error(`malformed entry at ${at}`);
    at = p + len;
  }
}
