// Payloads a read-back can check byte for byte without keeping them.

/**
 * A payload that can be regenerated from (group, seq): 12 bytes of header, then bytes derived from both,
 * so a read-back can be compared byte for byte without keeping the payloads.
 */
export function makePayload(group: number, seq: number, size: number): Buffer {
  const b = Buffer.allocUnsafe(Math.max(12, size));
  b.writeUInt32BE(group, 0);
  b.writeDoubleBE(seq, 4);
  let x = (Math.imul(group, 0x9e3779b1) ^ Math.imul(seq, 0x85ebca6b)) >>> 0;
  for (let i = 12; i < b.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}
