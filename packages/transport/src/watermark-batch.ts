import { Packr } from "msgpackr";

/**
 * A node's watermark batch on `events.watermarks` (DESIGN section 4). `w` is the newest GTS value of the
 * batch: no group led here from now on commits a CSN at or below it that the batch does not vouch for.
 * `groups` holds flat quads (group, pid, lsn, w): the group is led here by `pid`, and a reader that has read
 * it up to `lsn` knows it will never again commit a CSN <= w. An lsn of -1 means the group is led here but
 * not vouched yet (a reader of all groups must still wait for it).
 */
export interface WatermarkBatch {
  readonly node: string;
  readonly seq: number;
  readonly w: number;
  readonly groups: readonly number[];
}

const VERSION = 1;
const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeWatermarks(b: WatermarkBatch): Uint8Array {
  const body = packr.pack([b.node, b.seq, b.w, b.groups]);
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = VERSION;
  body.copy(out, 1);
  return out;
}

/** Undefined for anything malformed: readers drop it (and keep their last good state). */
export function decodeWatermarks(bytes: Uint8Array): WatermarkBatch | undefined {
  if (!(bytes instanceof Uint8Array) || bytes.length < 2 || bytes[0] !== VERSION) return undefined;
  let v: unknown;
  try {
    v = packr.unpack(bytes.subarray(1));
  } catch {
    return undefined;
  }
  if (!Array.isArray(v) || v.length !== 4) return undefined;
  const [node, seq, w, groups] = v as [unknown, unknown, unknown, unknown];
  const nat = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  if (typeof node !== "string" || !nat(seq) || !nat(w) || !Array.isArray(groups) || groups.length % 4 !== 0)
    return undefined;
  for (let i = 0; i < groups.length; i += 4) {
    const lsn = groups[i + 2];
    if (!nat(groups[i]) || !nat(groups[i + 1]) || !(nat(lsn) || lsn === -1) || !nat(groups[i + 3]))
      return undefined;
  }
  return { node, seq: seq as number, w: w as number, groups: groups as number[] };
}
