import { baseProblem } from "./base-check.ts";
import { isCounter, isGroupId } from "./counter-limits.ts";
import type { Message } from "./messages.ts";

const isInt = (x: unknown): x is number => Number.isSafeInteger(x);
// Counters from peers are bounded below 2^53 with headroom (counter-limits.ts): a forged pid or ballot
// near 2^53 would leave a replica with a durable promise it cannot move past.
const isNat = isCounter;
const isNum = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);
const isStr = (x: unknown): x is string => typeof x === "string" && x.length > 0 && x.length <= 256;
const isVersion = (x: unknown) =>
  typeof x === "object" && x !== null && isNat((x as any).pid) && isNat((x as any).seq);

function entriesProblem(entries: unknown): string | undefined {
  if (!Array.isArray(entries)) return "entries is not an array";
  for (const e of entries) {
    if (typeof e !== "object" || e === null) return "entry is not an object";
    if (!(e.body instanceof Uint8Array)) return "entry body is not bytes";
    for (const k of ["pid", "lsn", "end", "count", "flags", "checksum", "accum", "committedEnd"] as const) {
      if (!isNat(e[k])) return `entry ${k} is not a natural number`;
    }
    if (!isNat(e.maxCsn)) return "entry maxCsn is not a natural number";
  }
  return undefined;
}

/**
 * Checks a message's shape before the replica looks at it: types and ranges of every field.
 * Semantic checks (pids, LSN continuity, checksums) happen in the replica. Returns why it is bad, or undefined.
 */
export function messageProblem(m: unknown): string | undefined {
  if (typeof m !== "object" || m === null) return "not an object";
  const x = m as Record<string, unknown> & Message;
  if (!isGroupId(x.group) || !isNat(x.inc) || !isStr(x.from) || !isStr(x.to)) return "bad envelope";
  switch (x.type) {
    case "vote":
      return isNat(x.ballot) &&
        isNum(x.priority) &&
        isNat(x.seq) &&
        typeof x.renew === "boolean" &&
        isVersion(x.cfg)
        ? undefined
        : "bad vote";
    case "voteReply":
      return isNat(x.ballot) &&
        isNat(x.seq) &&
        typeof x.granted === "boolean" &&
        isNat(x.highestBallot) &&
        isVersion(x.cfg)
        ? undefined
        : "bad voteReply";
    case "notMember":
      return isVersion(x.cfg) ? undefined : "bad notMember";
    case "abdicate":
      return isNat(x.ballot) && isStr(x.target) ? undefined : "bad abdicate";
    case "timeoutNow":
      return isNat(x.ballot) ? undefined : "bad timeoutNow";
    case "prepare":
      return isNat(x.pid) && x.pid > 0 ? undefined : "bad prepare";
    case "prepareReply":
      return isNat(x.pid) &&
        typeof x.ok === "boolean" &&
        isNat(x.promised) &&
        isNat(x.lastPid) &&
        isNat(x.end) &&
        isNat(x.baseLsn)
        ? undefined
        : "bad prepareReply";
    case "fetch":
      return isNat(x.pid) && isNat(x.fromLsn) && isNat(x.toLsn) && x.fromLsn <= x.toLsn
        ? undefined
        : "bad fetch";
    case "fetchReply":
      if (!isNat(x.pid) || !isNat(x.prevLsn) || !isInt(x.prevPid)) return "bad fetchReply";
      if (x.base !== undefined && baseProblem(x.base)) return `bad fetchReply base: ${baseProblem(x.base)}`;
      return entriesProblem(x.entries);
    case "push":
      if (!isNat(x.pid) || x.pid < 1 || !isNat(x.prevLsn) || !isNat(x.prevPid) || !isNat(x.committedEnd))
        return "bad push";
      return entriesProblem(x.entries);
    case "ack":
      return isNat(x.pid) &&
        typeof x.ok === "boolean" &&
        isInt(x.end) &&
        isNat(x.committedEnd) &&
        isNat(x.retryFrom) &&
        isNat(x.promised)
        ? undefined
        : "bad ack";
    case "commitInfo":
      return isNat(x.pid) && isNat(x.prevLsn) && isNat(x.prevPid) && isNat(x.committedEnd)
        ? undefined
        : "bad commitInfo";
    case "rebuild":
      return isNat(x.pid) && !baseProblem(x.base)
        ? undefined
        : `bad rebuild: ${baseProblem(x.base) ?? "pid"}`;
    case "leaseRenew":
      return isNat(x.seq) && Array.isArray(x.groups) && x.groups.length % 2 === 0 && x.groups.every(isNat)
        ? undefined
        : "bad leaseRenew";
    case "leaseRenewReply":
      return isNat(x.seq) && Array.isArray(x.refused) && x.refused.every(isNat)
        ? undefined
        : "bad leaseRenewReply";
    default:
      return "unknown message type";
  }
}
