/**
 * On-disk record format. Every record is a fixed 44-byte header followed by its payload:
 *
 *   0  u32 crc32 of bytes [4, 44 + length)      20 u64 lsn
 *   4  u32 payload length                       28 u64 end
 *   8  u32 segment generation                   36 u64 proposal id
 *   12 u8  kind, 13 u8 flags, 14 u16 zero       44 payload
 *   16 u32 group
 *
 * All integers little-endian. The generation is inside the checksummed range, so a stale
 * record left in a reused segment file (or any byte pattern written for another segment)
 * never passes as a record of the current segment.
 */
import { crc32 } from "node:zlib";

export const HEADER_BYTES = 44;

/** Record kinds on disk. SEAL and SNAPSHOT are internal: callers never submit them. */
export const Kind = {
  entry: 1,
  truncate: 2,
  meta: 3,
  base: 4,
  dropGroup: 5,
  /** Last record of a segment that was closed on purpose; a sealed segment without it is corrupt. */
  seal: 6,
  /** Commits a copy-forward snapshot of one group: its copied records replace its whole state. */
  snapshot: 7,
} as const;

/** Flag bit: the record is part of a copy-forward snapshot, staged until its SNAPSHOT record. */
export const FLAG_COPY = 1;

/** Flag bit of a BASE record: a reset base (rebuild), which drops every entry of the group. */
export const FLAG_RESET = 2;

/** Bytes a seal record takes; every segment keeps room for it. */
export const SEAL_BYTES = HEADER_BYTES;

const TWO_32 = 4294967296;

/** Header fields of a decoded record. */
export interface RecordHeader {
  length: number;
  generation: number;
  kind: number;
  flags: number;
  group: number;
  lsn: number;
  end: number;
  pid: number;
}

function setU64(view: DataView, at: number, value: number): void {
  view.setUint32(at, value % TWO_32, true);
  view.setUint32(at + 4, Math.floor(value / TWO_32), true);
}

function getU64(view: DataView, at: number): number {
  return view.getUint32(at, true) + view.getUint32(at + 4, true) * TWO_32;
}

/**
 * Writes one record at `at` (the caller made room for HEADER_BYTES + payload length) and
 * returns its size. The payload is copied; `payload` may be reused by the caller afterwards.
 */
export function encodeRecord(
  buf: Uint8Array,
  view: DataView,
  at: number,
  generation: number,
  kind: number,
  flags: number,
  group: number,
  lsn: number,
  end: number,
  pid: number,
  payload: Uint8Array | undefined,
): number {
  const length = payload === undefined ? 0 : payload.byteLength;
  view.setUint32(at + 4, length, true);
  view.setUint32(at + 8, generation, true);
  view.setUint8(at + 12, kind);
  view.setUint8(at + 13, flags);
  view.setUint16(at + 14, 0, true);
  view.setUint32(at + 16, group, true);
  setU64(view, at + 20, lsn);
  setU64(view, at + 28, end);
  setU64(view, at + 36, pid);
  if (payload !== undefined) buf.set(payload, at + HEADER_BYTES);
  view.setUint32(at, crc32(buf.subarray(at + 4, at + HEADER_BYTES + length)), true);
  return HEADER_BYTES + length;
}

/** Rewrites the generation of an encoded record (and so its checksum). */
export function setGeneration(buf: Uint8Array, view: DataView, at: number, generation: number): void {
  const length = view.getUint32(at + 4, true);
  view.setUint32(at + 8, generation, true);
  view.setUint32(at, crc32(buf.subarray(at + 4, at + HEADER_BYTES + length)), true);
}

/** Size of the encoded record at `at` (header included), read from its length field. */
export function recordSize(view: DataView, at: number): number {
  return HEADER_BYTES + view.getUint32(at + 4, true);
}

/**
 * Size of the record at `at` if a complete, checksum-valid record of `generation` starts
 * there and ends by `limit`; 0 otherwise. Cheap fields are checked before the checksum so
 * scanning every byte offset of a torn tail stays fast.
 */
export function validRecordAt(
  buf: Uint8Array,
  view: DataView,
  at: number,
  limit: number,
  generation: number,
): number {
  if (at + HEADER_BYTES > limit) return 0;
  if (view.getUint32(at + 8, true) !== generation) return 0;
  const kind = view.getUint8(at + 12);
  if (kind < Kind.entry || kind > Kind.snapshot) return 0;
  const length = view.getUint32(at + 4, true);
  if (at + HEADER_BYTES + length > limit) return 0;
  if (crc32(buf.subarray(at + 4, at + HEADER_BYTES + length)) !== view.getUint32(at, true)) return 0;
  return HEADER_BYTES + length;
}

/** Decodes the header at `at`; the caller checked it with `validRecordAt`. */
export function decodeHeader(view: DataView, at: number): RecordHeader {
  return {
    length: view.getUint32(at + 4, true),
    generation: view.getUint32(at + 8, true),
    kind: view.getUint8(at + 12),
    flags: view.getUint8(at + 13),
    group: view.getUint32(at + 16, true),
    lsn: getU64(view, at + 20),
    end: getU64(view, at + 28),
    pid: getU64(view, at + 36),
  };
}

/** A DataView over exactly the bytes of `buf`. */
export function viewOf(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** A copy of `src` in its own small buffer (never a view into a larger one). */
export function copyBytes(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(src.byteLength);
  out.set(src);
  return out;
}
