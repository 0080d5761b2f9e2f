import { hasDuplicates, isCounter } from "./counter-limits.ts";

/**
 * Shape check of a BaseInfo that came off the wire (rebuild and fetch replies carry one): a hostile or
 * corrupt base must never reach a replica. Returns why it is bad, or undefined.
 */
export function baseProblem(b: unknown): string | undefined {
  if (typeof b !== "object" || b === null) return "not an object";
  const x = b as Record<string, unknown>;
  for (const k of ["lsn", "pid", "accum", "csn"]) if (!isNat(x[k])) return `${k} is not a natural number`;
  const c = x.config as Record<string, unknown> | null;
  if (typeof c !== "object" || c === null) return "config is not an object";
  const v = c.version as Record<string, unknown> | null;
  if (typeof v !== "object" || v === null || !isNat(v.pid) || !isNat(v.seq)) return "bad config version";
  if (!isIdList(c.members) || !isIdList(c.learners)) return "config members or learners are not id lists";
  if (hasDuplicates([...(c.members as string[]), ...(c.learners as string[])]))
    return "config lists a node twice";
  if (!isNat(c.replicaNum)) return "config replicaNum is not a natural number";
  return undefined;
}

const isNat = isCounter;

const isIdList = (x: unknown): boolean =>
  Array.isArray(x) && x.every((id) => typeof id === "string" && id.length > 0 && id.length <= 256);
