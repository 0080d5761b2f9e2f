import type { WalRecord } from "./types.ts";

/** Group ids are a uint32 in the record header. */
const MAX_GROUP = 0xffff_ffff;

const isNat = (x: unknown): boolean => typeof x === "number" && Number.isSafeInteger(x) && x >= 0;

/**
 * Why a record would be refused by `submit` for its shape (group id, LSNs, bytes, kind), or undefined.
 * A host checks its records with this before it builds a batch shared by many groups: `submit` refuses
 * the whole batch for one bad record, and every group in it would leave service.
 */
export function walRecordProblem(r: WalRecord): string | undefined {
  if (r === null || typeof r !== "object") return "a record must be an object";
  const g = r.group;
  if (typeof g !== "number" || !Number.isInteger(g) || g < 0 || g > MAX_GROUP)
    return `group must be a uint32, got ${String(g)}`;
  switch (r.kind) {
    case "entry":
      if (!isNat(r.lsn) || !isNat(r.end) || !isNat(r.pid))
        return "entry lsn, end and pid must be safe integers";
      if (r.end <= r.lsn) return `entry end ${r.end} must be above its lsn ${r.lsn}`;
      return r.bytes instanceof Uint8Array ? undefined : "bytes must be a Uint8Array";
    case "truncate":
      return isNat(r.lsn) ? undefined : "truncate lsn must be a safe integer";
    case "meta":
      return r.bytes instanceof Uint8Array ? undefined : "bytes must be a Uint8Array";
    case "base":
      if (!isNat(r.lsn)) return "base lsn must be a safe integer";
      if (r.reset !== undefined && typeof r.reset !== "boolean") return "reset must be a boolean";
      return r.bytes instanceof Uint8Array ? undefined : "bytes must be a Uint8Array";
    case "drop-group":
      return undefined;
    default:
      return `unknown record kind ${JSON.stringify((r as { kind: unknown }).kind)}`;
  }
}
