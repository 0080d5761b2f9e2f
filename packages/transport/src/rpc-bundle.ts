/**
 * Several RPC requests (or replies) to one destination in one NATS message: a marker byte, a count, then
 * (id, length, bytes) per item. A client that issues many requests to one node in an event-loop turn sends
 * them as one message, and the node answers what has settled in one message per turn; a busy client would
 * otherwise cost the NATS server, the client and the node one message each per request.
 */
export const BUNDLE_MARKER = 0xb1;

export interface BundleItem {
  readonly id: number;
  readonly payload: Uint8Array;
}

export function encodeBundle(items: readonly BundleItem[]): Buffer {
  let size = 5;
  for (const it of items) size += 8 + it.payload.length;
  const out = Buffer.allocUnsafe(size);
  out[0] = BUNDLE_MARKER;
  out.writeUInt32LE(items.length, 1);
  let at = 5;
  for (const it of items) {
    out.writeUInt32LE(it.id, at);
    out.writeUInt32LE(it.payload.length, at + 4);
    out.set(it.payload, at + 8);
    at += 8 + it.payload.length;
  }
  return out;
}

export function isBundle(data: Uint8Array): boolean {
  return data.length >= 5 && data[0] === BUNDLE_MARKER;
}

/** The items of a bundle, or a reason it is malformed (never throws). */
export function decodeBundle(data: Uint8Array): BundleItem[] | string {
  if (!isBundle(data)) return "not a bundle";
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const count = b.readUInt32LE(1);
  const items: BundleItem[] = [];
  let at = 5;
  for (let i = 0; i < count; i++) {
    if (at + 8 > b.length) return `bundle item ${i} runs past the end`;
    const id = b.readUInt32LE(at);
    const len = b.readUInt32LE(at + 4);
    if (at + 8 + len > b.length) return `bundle item ${i} runs past the end`;
    items.push({ id, payload: b.subarray(at + 8, at + 8 + len) });
    at += 8 + len;
  }
  return at === b.length ? items : "bytes after the last bundle item";
}
