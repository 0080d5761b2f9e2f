import type { AppendOutcome } from "./append-outcome.ts";
import { MAX_COUNTER, MAX_REF_CSN } from "./counter-limits.ts";
import * as leader from "./leader.ts";
import { EntryKind, type SessionTag } from "./log-entry.ts";
import { retryAnswer } from "./pending-results.ts";
import type { ReplicaState } from "./replica-state.ts";
import type { Csn, Lsn, Millis } from "./types.ts";
import { appendBytes } from "./wal-reservations.ts";

/** An append refused for lack of room in the WAL: back-pressure the client retries (recycling frees room). */
const NO_WAL_ROOM: AppendOutcome = {
  ok: false,
  code: "BACKPRESSURE",
  reason: "no room in the WAL (disk budget): retry once recycling frees space",
};

/**
 * Admits one append on the leader, in the order that keeps it safe: serving with a lease, input checks, the
 * session window (a retry answers its first place), pending bytes, WAL room before the LSN, then the LSN and
 * CSN in the open group entry.
 */
export function admitAppend(
  r: ReplicaState,
  payload: Uint8Array,
  now: Millis,
  options?: { refCsn?: Csn; session?: SessionTag; retry?: boolean },
): AppendOutcome {
  const refused = refuseAppend(r, now);
  if (refused) return refused;
  if (!(payload instanceof Uint8Array))
    return { ok: false, code: "BAD_REQUEST", reason: "payload must be bytes" };
  if (payload.length > r.opts.maxPayloadBytes) {
    return {
      ok: false,
      code: "TOO_LARGE",
      reason: `${payload.length} bytes > ${r.opts.maxPayloadBytes}`,
    };
  }
  const refCsn = options?.refCsn ?? 0;
  if (!Number.isSafeInteger(refCsn) || refCsn < 0 || refCsn > MAX_REF_CSN)
    return { ok: false, code: "BAD_REQUEST", reason: "refCsn (a natural number up to 2^52 - 2^32)" };
  const session = options?.session;
  if (session) {
    if (!Number.isSafeInteger(session.id) || !Number.isSafeInteger(session.seq)) {
      return { ok: false, code: "BAD_REQUEST", reason: "session" };
    }
    const known = r.opts.unsafe.noSessionCheck
      ? { kind: "new" as const }
      : r.sessions.lookup(
          session,
          options?.retry === true,
          r.log.base.lsn === 0 || r.opts.unsafe.retryIgnoresRecycling === true,
        );
    if (known.kind === "duplicate") return retried(r, known.lsn, known.csn, session);
    if (known.kind === "forgotten" && !r.opts.unsafe.forgottenSeqIsNew) {
      return {
        ok: false,
        code: "INDETERMINATE",
        reason:
          "a retry this leader cannot recognise (recycled, or too old for the session's window): read the log to know",
      };
    }
  }
  const pendingBytes = r.log.end - r.committedEnd + (r.open?.bytes ?? 0);
  if (pendingBytes > r.opts.maxPendingBytes) return { ok: false, code: "BACKPRESSURE" };
  // The open entry's max CSN: an entry openEntry would open now starts at the log's last CSN.
  const lastCsn = r.open?.maxCsn ?? r.log.lastCsn;
  const csn = Math.max(refCsn, lastCsn + 1, r.csnFloorValue() + 1);
  // Peers refuse an entry whose CSN is past MAX_COUNTER: refuse the append instead of wedging the group.
  if (csn > MAX_COUNTER)
    return {
      ok: false,
      code: "BAD_REQUEST",
      reason: `the group's CSNs reached the limit (2^52) at ${lastCsn}`,
    };
  // Room in the WAL before the LSN: a write refused after it would take this replica out of service.
  if (r.walSpace && !r.walSpace.reserve(appendBytes(r, payload.length, session !== undefined), false))
    return NO_WAL_ROOM;
  const open = leader.openEntry(r, payload.length);
  const lsn = open.add(EntryKind.data, csn, payload, session);
  if (session) r.sessions.record(session, lsn, csn);
  const id = r.pending.admitted();
  if (open.bytes >= r.opts.maxGroupEntryBytes) leader.freeze(r);
  return { ok: true, lsn, csn, id };
}

/**
 * A retry of an append the log holds at `lsn`: answered now if its entry is committed, else watched (its
 * RetryResult comes once the commit point passes it).
 */
function retried(r: ReplicaState, lsn: Lsn, csn: Csn, session: SessionTag): AppendOutcome {
  if (lsn < r.committedEnd) {
    const answer = retryAnswer(lsn, session, r);
    if (answer) return { ok: true, lsn, csn: answer.csn, duplicate: true };
    return { ok: false, code: "INDETERMINATE", reason: "retried append: read the log to know" };
  }
  return { ok: true, lsn, csn, id: r.pending.watchRetry(lsn, session), duplicate: true };
}

/** Why this replica takes no append now, or undefined if it may. */
function refuseAppend(r: ReplicaState, now: Millis): AppendOutcome | undefined {
  if (r.halted) return { ok: false, code: "HALTED", reason: r.halted };
  if (!r.servesAsLeader(now)) {
    const hint = r.leaderHint !== r.self ? r.leaderHint : undefined;
    return hint ? { ok: false, code: "NOT_LEADER", leader: hint } : { ok: false, code: "NOT_LEADER" };
  }
  if (!r.writable) return { ok: false, code: "NOT_WRITABLE" };
  if (r.transfer || r.configChange?.barrier) return { ok: false, code: "BUSY" };
  if (!r.floorReady()) return { ok: false, code: "BUSY", reason: "waiting for a GTS floor" };
  return undefined;
}
