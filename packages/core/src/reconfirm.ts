import { groupEntryProblem } from "./group-entry.ts";
import * as leader from "./leader.ts";
import { EntryKind } from "./log-entry.ts";
import { roundTripMs } from "./loop-lag.ts";
import { isMember, replicasOf } from "./member-config.ts";
import type { Fetch, FetchReply, Prepare, PrepareReply } from "./messages.ts";
import type { ReplicaState } from "./replica-state.ts";
import type { Millis, ReplicaId } from "./types.ts";
import { newEntriesFrom, reserveControl, reserveEntries } from "./wal-reservations.ts";

/** Won the lease: send prepare(pid + 1) to every member, ourselves included (our promise counts once durable). */
export function start(r: ReplicaState, now: Millis): void {
  const pid = Math.max(r.promisedPid, r.highestPidSeen) + 1;
  const config = r.config;
  r.rc = {
    pid,
    phase: "prepare",
    promises: new Map(),
    deadline: now + roundTripMs(r.opts.prepareTimeoutMs, r.loopLag),
    chosen: undefined,
    fetchFrom: 0,
    config,
  };
  const to = r.opts.unsafe.countLearnerPromises ? replicasOf(config) : config.members;
  for (const id of to) r.send({ type: "prepare", group: r.group, inc: r.inc, from: r.self, to: id, pid });
}

/** No majority in time, or the chosen log moved under us: try again with a higher pid while the lease holds. */
export function restart(r: ReplicaState, _why: string): void {
  if (r.role !== "candidate" || !r.election.leaseValid(r.now)) {
    if (r.rc) r.rc.deadline = Number.POSITIVE_INFINITY;
    return;
  }
  start(r, r.now);
}

export function onPrepare(r: ReplicaState, m: Prepare): void {
  const reply = (ok: boolean): PrepareReply => ({
    type: "prepareReply",
    group: r.group,
    inc: r.inc,
    from: r.self,
    to: m.from,
    pid: m.pid,
    ok,
    promised: r.promisedPid,
    lastPid: r.opts.unsafe.prepareReplyPromisedPid ? r.promisedPid : r.log.lastPid,
    end: r.log.end,
    baseLsn: r.log.base.lsn,
  });
  if (!isMember(r.config, m.from)) return r.reject(m, "prepare from a replica that is not a member");
  if (m.pid <= r.promisedPid) return r.send(reply(false));
  r.adoptPid(m.pid, m.from === r.self);
  // The promise, and the log the reply describes, must be durable before the reply leaves.
  if (sendPromiseEarly(r, m)) r.send(reply(true));
  else r.gate.sendWhenDurable(reply(true));
}

/** UnsafeSwitches.prepareReplyBeforeDurable / countOwnPromiseEarly (test-only): the promise leaves before its fsync. */
function sendPromiseEarly(r: ReplicaState, m: Prepare): boolean {
  const u = r.opts.unsafe;
  return u.prepareReplyBeforeDurable === true || (u.countOwnPromiseEarly === true && m.from === r.self);
}

export function onPrepareReply(r: ReplicaState, m: PrepareReply): void {
  if (m.promised > r.highestPidSeen) r.highestPidSeen = m.promised;
  const rc = r.rc;
  if (!rc || r.role !== "candidate" || rc.phase !== "prepare" || m.pid !== rc.pid) return;
  if (!m.ok) {
    if (m.promised >= rc.pid) restart(r, `member promised ${m.promised}`);
    return;
  }
  if (!isMember(r.config, m.from) && !r.opts.unsafe.countLearnerPromises) return;
  if (m.end < m.baseLsn) return r.reject(m, "prepare reply with end below base");
  rc.promises.set(m.from, { lastPid: m.lastPid, end: m.end });
  if (rc.promises.size < r.quorum() || !rc.promises.has(r.self)) return;
  // Choose the log with the highest last pid, then the longest; prefer our own on a tie (it is the same log).
  let best = { id: r.self, ...rc.promises.get(r.self)! };
  for (const [id, p] of rc.promises) {
    if (p.lastPid > best.lastPid || (p.lastPid === best.lastPid && p.end > best.end)) best = { id, ...p };
  }
  if (best.id === r.self || (r.opts.unsafe.keepOwnSuffix && r.log.end >= best.end)) return finish(r);
  rc.phase = "fetch";
  rc.chosen = best;
  rc.fetchFrom = Math.max(r.committedEnd, r.log.base.lsn);
  sendFetch(r);
}

function sendFetch(r: ReplicaState): void {
  const rc = r.rc!;
  rc.deadline = r.now + roundTripMs(r.opts.prepareTimeoutMs, r.loopLag);
  const chosen = rc.chosen!;
  r.send({
    type: "fetch",
    group: r.group,
    inc: r.inc,
    from: r.self,
    to: chosen.id,
    pid: rc.pid,
    fromLsn: rc.fetchFrom,
    toLsn: chosen.end,
  });
}

/** Serves a candidate's fetch from our log; answered only once that log is durable. */
export function onFetch(r: ReplicaState, m: Fetch): void {
  if (m.pid < r.promisedPid) return;
  const base = r.log.base;
  const reply = (fields: Pick<FetchReply, "prevPid" | "entries" | "base">): FetchReply => ({
    type: "fetchReply",
    group: r.group,
    inc: r.inc,
    from: r.self,
    to: m.from,
    pid: m.pid,
    prevLsn: m.fromLsn,
    ...fields,
  });
  if (m.fromLsn < base.lsn) return r.gate.sendWhenDurable(reply({ prevPid: -1, entries: [], base }));
  const prevPid = m.fromLsn <= r.log.end ? r.log.pidEndingAt(m.fromLsn) : undefined;
  if (prevPid === undefined) return r.gate.sendWhenDurable(reply({ prevPid: -1, entries: [] }));
  r.gate.sendWhenDurable(reply({ prevPid, entries: r.log.range(m.fromLsn, r.opts.maxPushBytes, m.toLsn) }));
}

export function onFetchReply(r: ReplicaState, m: FetchReply): void {
  const rc = r.rc;
  if (!rc || r.role !== "candidate" || rc.phase !== "fetch" || m.pid !== rc.pid || m.from !== rc.chosen?.id)
    return;
  if (m.prevLsn !== rc.fetchFrom) return; // an answer to an earlier fetch
  if (m.base) {
    // The chosen log was recycled past our committed end. If our log reaches its base point with the same
    // pid, everything up to there is the same log: keep it and fetch from the base. Otherwise everything we
    // hold at or above the base conflicts with the chosen log (so it is uncommitted) and below the base is
    // covered by the chosen replica's snapshot: start from its base, as a rebuilt follower would.
    const b = m.base;
    if (b.lsn <= rc.fetchFrom || b.lsn > rc.chosen.end) return restart(r, "bad base in fetch reply");
    if (!(b.lsn <= r.log.end && r.log.pidEndingAt(b.lsn) === b.pid)) {
      r.log.resetTo(b);
      r.persist({ kind: "base", base: b, reset: true }, true);
      r.pending.dropBelow(b.lsn);
      r.sink.event({ type: "rebuilt", group: r.group, base: b });
    }
    r.setCommitted(b.lsn);
    rc.fetchFrom = b.lsn;
    return sendFetch(r);
  }
  if (m.prevPid !== r.log.pidEndingAt(rc.fetchFrom) || m.entries.length === 0) {
    return restart(r, "the chosen log does not continue our committed prefix");
  }
  let expected = rc.fetchFrom;
  let prevAccum = r.log.accumEndingAt(expected);
  for (const e of m.entries) {
    const problem =
      e.lsn !== expected
        ? "entries are not contiguous"
        : e.end > rc.chosen.end
          ? "entries beyond the chosen end"
          : groupEntryProblem(e, prevAccum);
    if (problem) return r.reject(m, problem);
    expected = e.end;
    prevAccum = e.accum;
  }
  // Room in the WAL first: take the run that fits and fetch the rest again, or without room for any, take
  // nothing (the reconfirm deadline tries again).
  let entries = m.entries;
  const fresh = newEntriesFrom(r, entries);
  const room = fresh === undefined ? expected : reserveEntries(r, entries, fresh);
  if (room < expected) {
    r.reject(m, "no room in the WAL for the fetched entries");
    if (room === fresh) return standAside(r, rc.chosen.id, rc.config.members);
    entries = entries.filter((e) => e.end <= room);
    expected = room;
  }
  for (const e of entries) {
    const mine = r.log.startingAt(e.lsn);
    if (mine && mine.pid === e.pid && mine.end === e.end) continue;
    if (e.lsn < r.log.end && !r.truncate(e.lsn, rc.pid)) return r.walSpace?.release(expected - e.lsn);
    r.acceptEntry(e);
  }
  rc.fetchFrom = expected;
  if (rc.fetchFrom >= rc.chosen.end) finish(r);
  else sendFetch(r);
}

/**
 * No room in our WAL for the chosen log. Waiting would hold the lease, and so the whole group, until
 * recycling frees room, which may need this very group to commit first (seed 1642 of the node simulator:
 * a candidate retried for 20 s). The replica whose log we chose needs no fetch: hand it the lease. As a
 * follower we still check what we hold against its pushes, so the commit point moves and recycling can
 * make room.
 */
function standAside(r: ReplicaState, target: ReplicaId, members: readonly ReplicaId[]): void {
  leader.handLeaseTo(r, target, members);
  r.stepDown(r.now, "no room in the WAL for the chosen log");
}

/** Our log now equals the chosen one: cut any suffix it lacks, then replicate StartWorking with its config. */
function finish(r: ReplicaState): void {
  const rc = r.rc!;
  const end = rc.chosen?.end ?? r.log.end;
  if (r.log.end > end && !r.truncate(end, rc.pid)) return;
  // The chosen log's config (its latest config entry, now ours), not the one we stood with: a config change
  // we had not seen may be in it. UnsafeSwitches.startWorkingOwnConfig (test-only) writes ours back instead.
  const config = r.opts.unsafe.startWorkingOwnConfig ? rc.config : r.log.config;
  // Room in the WAL for StartWorking (it may use the headroom) before anything changes; without it, wait: a
  // later promise or the reconfirm deadline tries again.
  if (!reserveControl(r, config)) return;
  rc.phase = "startWorking";
  r.myPid = rc.pid;
  r.progress.clear();
  leader.syncProgress(r);
  for (const p of r.progress.values()) p.lastSentAt = r.now;
  r.startWorkingEnd = leader.appendControl(r, EntryKind.startWorking, config);
  leader.advanceCommit(r);
}
