import { type GroupEntry, groupEntryProblem } from "./group-entry.ts";
import type { Ack, CommitInfo, Push, Rebuild } from "./messages.ts";
import type { ReplicaState } from "./replica-state.ts";
import type { Lsn, Pid, ReplicaId } from "./types.ts";
import { newEntriesFrom, reserveEntries } from "./wal-reservations.ts";

/** Refuses a push: tells the leader where to resend from (a gap or a conflicting run), or the higher pid. */
function refuse(r: ReplicaState, to: ReplicaId, pid: Pid, retryFrom: Lsn): void {
  r.send(ackMessage(r, to, pid, false, Math.max(0, retryFrom)));
}

/** Acks the durable end of the prefix checked against `pid`; leaves only once that prefix is durable. */
function ack(r: ReplicaState, to: ReplicaId, pid: Pid): void {
  r.gate.sendWhenDurable(ackMessage(r, to, pid, true, 0));
}

function ackMessage(r: ReplicaState, to: ReplicaId, pid: Pid, ok: boolean, retryFrom: Lsn): Ack {
  const end = ok ? (r.opts.unsafe.ackLogEnd ? r.log.end : r.checkedEnd) : -1;
  return {
    type: "ack",
    group: r.group,
    inc: r.inc,
    from: r.self,
    to,
    pid,
    ok,
    end,
    committedEnd: r.committedEnd,
    retryFrom,
    promised: r.promisedPid,
  };
}

/** Where a leader should resend from when our log does not match at `prevLsn` (Raft's conflicting-run hint). */
function retryHint(r: ReplicaState, prevLsn: Lsn): Lsn {
  if (prevLsn > r.log.end) return r.log.end;
  const run = r.log.runStart(Math.max(r.log.base.lsn, prevLsn - 1));
  // Below the committed end every log agrees, so never ask for more than that.
  return Math.max(run, Math.min(r.committedEnd, prevLsn), r.log.base.lsn);
}

/** Common to every message from a leader: the pid check. Returns false if the message is stale. */
function fromLeader(r: ReplicaState, m: { from: ReplicaId; pid: Pid }): boolean {
  if (m.pid < r.promisedPid && !r.opts.unsafe.truncateAnyPid) return false;
  if (m.pid === r.myPid && (r.role === "leader" || r.role === "candidate")) {
    r.reject(m, `a second leader claims my pid ${m.pid}`);
    return false;
  }
  r.adoptPid(m.pid);
  r.leaderHint = m.from;
  r.election.heardFromLeader(r.now);
  if (r.checkedPid !== m.pid) {
    r.checkedPid = m.pid;
    r.checkedEnd = -1;
  }
  return true;
}

function markChecked(r: ReplicaState, end: Lsn): void {
  if (end > r.checkedEnd) r.checkedEnd = end;
}

export function onPush(r: ReplicaState, m: Push): void {
  if (m.pid < r.promisedPid && !r.opts.unsafe.truncateAnyPid) return refuse(r, m.from, m.pid, 0);
  if (!fromLeader(r, m)) return;
  let prevLsn = m.prevLsn;
  let entries: readonly GroupEntry[] = m.entries;
  if (prevLsn < r.log.base.lsn) {
    // Everything below our base is committed and recycled here; skip to the base.
    entries = entries.filter((e) => e.end > r.log.base.lsn);
    if (entries.length > 0 && entries[0]!.lsn !== r.log.base.lsn)
      return r.reject(m, "push straddles the base");
    prevLsn = r.log.base.lsn;
  } else if (prevLsn > r.log.end) {
    return refuse(r, m.from, m.pid, r.log.end);
  } else if (r.log.pidEndingAt(prevLsn) !== m.prevPid) {
    return refuse(r, m.from, m.pid, retryHint(r, prevLsn));
  }
  let expected = prevLsn;
  let prevAccum = r.log.accumEndingAt(prevLsn);
  for (const e of entries) {
    const problem =
      e.lsn !== expected
        ? "entries are not contiguous"
        : e.pid > m.pid
          ? "entry pid above the leader's"
          : groupEntryProblem(e, prevAccum);
    if (problem) return r.reject(m, problem);
    expected = e.end;
    prevAccum = e.accum;
  }
  // Room in the WAL before taking anything new: take the run that fits and ack it, or without room for any,
  // take and ack nothing (the leader resends later). What we already hold is checked either way, so the
  // commit point still moves and recycling can make room.
  const fresh = newEntriesFrom(r, entries);
  const room = fresh === undefined ? expected : reserveEntries(r, entries, fresh);
  if (room < expected) {
    r.reject(m, "no room in the WAL for the pushed entries");
    if (room === fresh) {
      markChecked(r, room);
      return follow(r, m.committedEnd);
    }
    entries = entries.filter((e) => e.end <= room);
    expected = room;
  }
  for (const e of entries) {
    const mine = r.log.startingAt(e.lsn);
    if (mine && mine.pid === e.pid && mine.end === e.end) continue;
    if (e.lsn < r.log.end && !r.truncate(e.lsn, m.pid)) return r.walSpace?.release(expected - e.lsn);
    r.acceptEntry(e);
  }
  markChecked(r, expected);
  follow(r, m.committedEnd);
  ack(r, m.from, m.pid);
}

/** A follower's committed end: min(leader's committed end, end of its own checked prefix). */
function follow(r: ReplicaState, leaderCommitted: Lsn): void {
  const c = Math.min(leaderCommitted, r.opts.unsafe.followerTrustsLeaderCommit ? r.log.end : r.checkedEnd);
  if (c > r.committedEnd) r.setCommitted(c);
}

export function onCommitInfo(r: ReplicaState, m: CommitInfo): void {
  if (!fromLeader(r, m)) return;
  if (r.opts.unsafe.commitInfoUnanchored) return unanchoredCommitInfo(r, m);
  if (m.prevLsn > r.log.end || m.prevLsn < r.log.base.lsn || r.log.pidEndingAt(m.prevLsn) !== m.prevPid) {
    return refuse(r, m.from, m.pid, retryHint(r, m.prevLsn));
  }
  markChecked(r, m.prevLsn);
  follow(r, m.committedEnd);
  ack(r, m.from, m.pid);
}

/** UnsafeSwitches.commitInfoUnanchored (test-only): takes the leader's commit point for whatever log we hold. */
function unanchoredCommitInfo(r: ReplicaState, m: CommitInfo): void {
  markChecked(r, Math.min(m.prevLsn, r.log.end));
  follow(r, m.committedEnd);
  ack(r, m.from, m.pid);
}

/** The leader recycled what we miss: start again from its base (a snapshot point). */
export function onRebuild(r: ReplicaState, m: Rebuild): void {
  if (!fromLeader(r, m)) return;
  const base = m.base;
  if (
    base.lsn <= r.committedEnd ||
    (base.lsn <= r.log.end && base.lsn >= r.log.base.lsn && r.log.pidEndingAt(base.lsn) === base.pid)
  ) {
    // We still hold the leader's base point (or are committed past it): no rebuild, resend from there.
    return refuse(r, m.from, m.pid, Math.max(base.lsn, r.committedEnd));
  }
  r.log.resetTo(base);
  r.persist({ kind: "base", base, reset: true }, true);
  r.pending.dropBelow(base.lsn);
  r.checkedEnd = base.lsn;
  r.sink.event({ type: "rebuilt", group: r.group, base });
  r.setCommitted(base.lsn);
  ack(r, m.from, m.pid);
}
