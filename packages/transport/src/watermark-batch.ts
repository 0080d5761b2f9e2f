import { Packr } from "msgpackr";

/**
 * A node's watermark batch on `events.watermarks` (DESIGN section 4). `w` is the newest GTS value of the
 * batch: no group led here from now on commits a CSN at or below it that the batch does not vouch for.
 * `groups` holds flat quads (group, pid, lsn, w): the group is led here by `pid`, and a reader that has read
 * it up to `lsn` knows it will never again commit a CSN <= w. An lsn of -1 means the group is led here but
 * not vouched now (a reader keeps what it trusts and, reading all groups, waits for it); -2 means it is no
 * longer led here.
 *
 * Most rounds are deltas (`base` > 0): a group whose latest quad vouched it at its batch's own w is
 * *carried*: every later delta that does not name it vouches the same (pid, lsn) at the delta's w. So a
 * round costs the node only the groups that changed since the last one; a full batch (`base` 0) every few
 * rounds lets a reader that joined late or missed a batch start over. See WatermarkView.
 */
export interface WatermarkBatch {
  readonly node: string;
  /** Random per publisher start: a delta applies only on top of a batch of the same boot. */
  readonly boot: number;
  readonly seq: number;
  /** 0: a full batch (everything led here). Else the seq of the batch this delta extends. */
  readonly base: number;
  readonly w: number;
  readonly groups: readonly number[];
}

/** No longer led here (deltas): drop the group from the node's carried set. */
export const WATERMARK_GONE = -2;
/** Led here, not vouched at this batch: keep what you trust. */
export const WATERMARK_HELD = -1;

const VERSION = 2;
const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeWatermarks(b: WatermarkBatch): Uint8Array {
  const body = packr.pack([b.node, b.boot, b.seq, b.base, b.w, b.groups]);
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
  if (!Array.isArray(v) || v.length !== 6) return undefined;
  const [node, boot, seq, base, w, groups] = v as unknown[];
  const nat = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  if (typeof node !== "string" || !nat(boot) || !nat(seq) || !nat(base) || !nat(w)) return undefined;
  if ((base as number) >= (seq as number) || !Array.isArray(groups) || groups.length % 4 !== 0)
    return undefined;
  for (let i = 0; i < groups.length; i += 4) {
    const lsn = groups[i + 2];
    const lsnOk = nat(lsn) || lsn === WATERMARK_HELD || lsn === WATERMARK_GONE;
    if (!nat(groups[i]) || !nat(groups[i + 1]) || !lsnOk || !nat(groups[i + 3])) return undefined;
  }
  return {
    node,
    boot: boot as number,
    seq: seq as number,
    base: base as number,
    w: w as number,
    groups: groups as number[],
  };
}
