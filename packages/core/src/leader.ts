import type { AdminOutcome } from "./append-outcome.ts";
import type { GroupEntry } from "./group-entry.ts";
import { EntryKind } from "./log-entry.ts";
import { roundTripMs } from "./loop-lag.ts";
import { applyChange, type ConfigChange, encodeConfig, isMember, replicasOf } from "./member-config.ts";
import type { Ack, CommitInfo } from "./messages.ts";
import { OpenGroupEntry } from "./open-group-entry.ts";
import type { Progress, ReplicaState } from "./replica-state.ts";
import type { Lsn, MemberConfig, Millis, ReplicaId } from "./types.ts";
import { reserveControl } from "./wal-reservations.ts";

/** The open group entry, created on the first append after a freeze. */
export function openEntry(r: ReplicaState, payloadBytes: number): OpenGroupEntry {
  if (!r.open)
    r.open = new OpenGroupEntry(r.log.end, r.log.lastCsn, Math.max(payloadBytes + 64, r.lastGroupBytes));
  return r.open;
}

/** Freezes the open group entry: into the local log, to disk, and to every follower that is in step. */
export function freeze(r: ReplicaState): void {
  const o = r.open;
  if (!o || o.count === 0) return;
  r.open = undefined;
  r.lastGroupBytes = Math.min(o.bytes + (o.bytes >> 2), r.opts.maxGroupEntryBytes + 64 * 1024);
  const ge = o.freeze(r.myPid, r.committedEnd, r.log.lastAccum);
  r.acceptEntry(ge, true);
  r.pending.issued(r.myPid, ge.lsn, ge.end);
  pushNew(r, ge.lsn);
}

/**
 * UnsafeSwitches.reuseLsnAfterWriteError (test-only): after a write error the leader cuts its log back to its
 * synced end and goes on under the same pid, so the LSNs it pushed before are assigned again.
 */
export function rewindUnsynced(r: ReplicaState): void {
  freeze(r);
  const to = Math.max(r.gate.durableEnd, r.committedEnd);
  if (to >= r.log.end) return;
  r.log.truncateFrom(to);
  r.sessions.truncate(to);
  r.persist({ kind: "truncate", lsn: to }, true);
  for (const p of r.progress.values()) {
    p.nextLsn = Math.min(p.nextLsn, to);
    p.matchEnd = Math.min(p.matchEnd, to);
  }
}

/** Appends a config or StartWorking entry as a group entry of its own (the caller reserved its room: reserveControl). */
export function appendControl(r: ReplicaState, kind: EntryKind, config: MemberConfig): Lsn {
  freeze(r);
  const o = new OpenGroupEntry(r.log.end, r.log.lastCsn, 256);
  o.add(kind, r.log.lastCsn + 1, encodeConfig(config), undefined);
  const ge = o.freeze(r.myPid, r.committedEnd, r.log.lastAccum);
  r.acceptEntry(ge);
  syncProgress(r);
  pushNew(r, ge.lsn);
  return ge.end;
}

/** Keeps one Progress per replica of the current config (plus a member being added). */
export function syncProgress(r: ReplicaState): void {
  const want = new Set(replicasOf(r.config));
  if (r.configChange?.target) want.add(r.configChange.target);
  want.delete(r.self);
  for (const id of r.progress.keys()) if (!want.has(id)) r.progress.delete(id);
  for (const id of want) {
    if (!r.progress.has(id)) {
      r.progress.set(id, {
        nextLsn: r.log.end,
        matchEnd: -1,
        floor: r.log.end,
        ackCommitted: 0,
        lastSentAt: r.now,
      });
    }
  }
}

/** Sends the group entry at `lsn` (the newest) to every peer whose stream is in step with it. */
function pushNew(r: ReplicaState, lsn: Lsn): void {
  const ge = r.log.startingAt(lsn)!;
  const prevPid = r.log.pidEndingAt(lsn)!;
  for (const [to, p] of r.progress) {
    if (p.nextLsn !== lsn) continue;
    sendPush(r, to, lsn, prevPid, [ge]);
    p.nextLsn = ge.end;
    p.lastSentAt = r.now;
  }
  r.lastPushedCommitted = r.committedEnd;
  // The commit point held back for the next push just rode on it.
  r.commitInfoDueAt = Number.POSITIVE_INFINITY;
}

/** Sends a lagging peer the next batch from its nextLsn (or commit info if it has the whole log). */
export function sendCatchUp(r: ReplicaState, to: ReplicaId, p: Progress): void {
  p.lastSentAt = r.now;
  if (p.nextLsn < r.log.base.lsn) return sendRebuild(r, to, p);
  const entries = r.log.range(p.nextLsn, r.opts.maxPushBytes);
  if (entries.length === 0) return sendCommitInfo(r, to, p);
  sendPush(r, to, p.nextLsn, r.log.pidEndingAt(p.nextLsn)!, entries);
  p.nextLsn = entries.at(-1)!.end;
}

/** The peer needs entries we recycled: it must rebuild from our base, and continues from there. */
function sendRebuild(r: ReplicaState, to: ReplicaId, p: Progress): void {
  p.lastSentAt = r.now;
  p.floor = r.log.base.lsn;
  p.nextLsn = r.log.base.lsn;
  r.send({ type: "rebuild", group: r.group, inc: r.inc, from: r.self, to, pid: r.myPid, base: r.log.base });
}

function sendPush(
  r: ReplicaState,
  to: ReplicaId,
  prevLsn: Lsn,
  prevPid: number,
  entries: GroupEntry[],
): void {
  r.send({
    type: "push",
    group: r.group,
    inc: r.inc,
    from: r.self,
    to,
    pid: r.myPid,
    prevLsn,
    prevPid,
    entries,
    committedEnd: r.committedEnd,
  });
}

/**
 * Commit info anchored at what the peer acked, so it is never applied to an unchecked suffix. An ack below
 * our base (recycled since) is anchored at the base instead, the lowest point whose pid we still know: a
 * peer that lacks it refuses, and the refusal sends it a rebuild.
 */
function sendCommitInfo(r: ReplicaState, to: ReplicaId, p: Progress): void {
  const at = p.matchEnd >= 0 ? Math.min(Math.max(p.matchEnd, r.log.base.lsn), r.log.end) : r.log.end;
  const msg: CommitInfo = {
    type: "commitInfo",
    group: r.group,
    inc: r.inc,
    from: r.self,
    to,
    pid: r.myPid,
    prevLsn: at,
    prevPid: r.log.pidEndingAt(at)!,
    committedEnd: r.committedEnd,
  };
  p.lastSentAt = r.now;
  r.send(msg);
}

export function onAck(r: ReplicaState, m: Ack): void {
  if (m.promised > r.promisedPid) {
    r.adoptPid(m.promised);
    return;
  }
  if (!r.isServing() || m.pid !== r.myPid) return;
  const p = r.progress.get(m.from);
  if (!p) return;
  if (m.ok) {
    if (m.end > r.log.end) return r.reject(m, `ack beyond our log end (${m.end} > ${r.log.end})`);
    if (m.end > p.matchEnd) p.matchEnd = m.end;
    if (m.committedEnd > p.ackCommitted) p.ackCommitted = m.committedEnd;
    if (p.nextLsn < p.matchEnd) p.nextLsn = p.matchEnd;
    advanceCommit(r);
    if (p.nextLsn === p.matchEnd && p.matchEnd < r.log.end) sendCatchUp(r, m.from, p);
    return;
  }
  if (m.retryFrom < r.log.base.lsn) return sendRebuild(r, m.from, p);
  const retry = m.retryFrom >= r.log.end ? r.log.end : r.log.containing(m.retryFrom)!.lsn;
  if (retry < p.matchEnd) {
    // It lost entries it had acked (a replaced disk, a durability fault). Believe the refusal, or we would
    // resend from a point it cannot accept forever. The commit point never moves back.
    r.reject(m, `follower lost acked entries: retry from ${retry} below its acked end ${p.matchEnd}`);
    p.matchEnd = retry;
  }
  p.floor = retry;
  p.nextLsn = retry;
  sendCatchUp(r, m.from, p);
}

/** Commit point = the quorum-th highest durable match, once our own StartWorking is on a quorum. */
export function advanceCommit(r: ReplicaState): void {
  const members = r.config.members;
  // Runs on every ack: the ends go into a reused buffer, sorted in place (members are few), no allocation.
  const ends = members.length <= ENDS.length ? ENDS : new Float64Array(members.length);
  for (let i = 0; i < members.length; i++) {
    const m = members[i]!;
    const end = m === r.self ? ownEnd(r) : (r.progress.get(m)?.matchEnd ?? -1);
    let j = i;
    for (; j > 0 && ends[j - 1]! < end; j--) ends[j] = ends[j - 1]!;
    ends[j] = end;
  }
  const q = r.quorum();
  const c = q >= 1 && q <= members.length ? ends[q - 1]! : -1;
  // Commit only your own pid: nothing before StartWorking counts until StartWorking itself is on a quorum.
  if (c > r.committedEnd && (c >= r.startWorkingEnd || r.opts.unsafe.commitBeforeStartWorking))
    r.setCommitted(c);
}

/** advanceCommit's scratch buffer, descending ends of the members (shared: core runs on one thread). */
const ENDS = new Float64Array(16);

/** The leader counts its own position as its synced end (UnsafeSwitches.leaderCountsLogEnd: its in-memory end). */
function ownEnd(r: ReplicaState): Lsn {
  return r.opts.unsafe.leaderCountsLogEnd ? r.log.end : r.gate.durableEnd;
}

export function onCommitted(r: ReplicaState): void {
  const cc = r.configChange;
  if (cc?.appendedEnd !== undefined && r.committedEnd >= cc.appendedEnd) {
    r.configChange = undefined;
    syncProgress(r);
    r.sink.event({ type: "config", group: r.group, version: cc.config.version, committed: true });
  }
}

/** End of a loop turn: feedback freeze, membership barrier, transfer, and commit info for idle peers. */
export function endTurn(r: ReplicaState): void {
  const o = r.open;
  if (o && (r.gate.durableEnd >= r.log.end || o.bytes >= r.opts.maxGroupEntryBytes)) freeze(r);
  if (r.configChange) stepConfigChange(r);
  if (r.transfer) stepTransfer(r);
  if (r.role === "leader" && r.committedEnd > r.lastPushedCommitted) {
    r.lastPushedCommitted = r.committedEnd;
    // Held back: a push before the deadline carries the commit point (and its ack reports it) instead.
    if (r.opts.commitInfoDelayMs > 0)
      r.commitInfoDueAt = Math.min(r.commitInfoDueAt, r.now + r.opts.commitInfoDelayMs);
    else sendCommitInfoToIdle(r);
  }
}

/** Commit info to every peer that has the whole log sent to it but not the commit point (no push on its way). */
function sendCommitInfoToIdle(r: ReplicaState): void {
  r.commitInfoDueAt = Number.POSITIVE_INFINITY;
  for (const [to, p] of r.progress) {
    if (p.nextLsn === p.matchEnd && p.ackCommitted < Math.min(r.committedEnd, p.matchEnd))
      sendCommitInfo(r, to, p);
  }
}

/** Resends to peers that have not acked what they were sent (lost messages, restarts). */
export function retransmit(r: ReplicaState): void {
  if (r.now >= r.commitInfoDueAt) sendCommitInfoToIdle(r);
  // Slow loop turns delay acks too: resending what is still on its way would only add to the load.
  const after = roundTripMs(r.opts.retransmitMs, r.loopLag);
  for (const [to, p] of r.progress) {
    if (r.now < p.lastSentAt + after) continue;
    if (p.matchEnd >= r.log.end && p.ackCommitted >= r.committedEnd) continue;
    p.nextLsn = p.matchEnd >= 0 ? p.matchEnd : p.floor;
    sendCatchUp(r, to, p);
  }
  if (r.configChange && r.role === "leader") stepConfigChange(r);
  if (r.transfer) stepTransfer(r);
}

export function nextDeadline(r: ReplicaState): Millis {
  let at = Number.POSITIVE_INFINITY;
  const after = roundTripMs(r.opts.retransmitMs, r.loopLag);
  for (const p of r.progress.values()) {
    if (p.matchEnd < r.log.end || p.ackCommitted < r.committedEnd) at = Math.min(at, p.lastSentAt + after);
  }
  if (r.configChange?.appendedEnd === undefined && r.configChange) at = Math.min(at, r.configChange.deadline);
  // Waiting for the joiner's grant (grantFrom asks once per renewal interval).
  if (r.configChange && !r.configChange.barrier) at = Math.min(at, r.now + r.opts.lease.renewMs);
  if (r.transfer) at = Math.min(at, r.transfer.deadline);
  return Math.min(at, r.commitInfoDueAt);
}

export function changeConfig(r: ReplicaState, change: ConfigChange): AdminOutcome {
  const early = r.opts.unsafe.changeBeforeStartWorking === true && r.role === "candidate" && r.isServing();
  if ((r.role !== "leader" && !early) || !r.election.leaseValid(r.now))
    return { ok: false, code: "NOT_LEADER", reason: "not the leader" };
  if (r.configChange || r.transfer) return { ok: false, code: "BUSY", reason: "another change is running" };
  if (r.log.configLsn >= r.committedEnd && !early)
    return { ok: false, code: "BUSY", reason: "the last config is not committed yet" };
  if ((change.type === "removeMember" || change.type === "demoteMember") && change.id === r.self) {
    return { ok: false, code: "INVALID", reason: "transfer leadership before removing the leader" };
  }
  const version = { pid: r.myPid, seq: r.config.version.seq + 1 };
  const next = applyChange(r.config, change, version, r.opts.unsafe.skipQuorumIntersection);
  if (typeof next === "string") return { ok: false, code: "INVALID", reason: next };
  const target = change.type === "addMember" || change.type === "promoteLearner" ? change.id : undefined;
  r.configChange = {
    config: next,
    target,
    deadline: r.now + r.opts.configChangeTimeoutMs,
    barrier: target === undefined,
    appendedEnd: undefined,
  };
  syncProgress(r);
  if (target) sendCatchUp(r, target, r.progress.get(target)!);
  if (early) stepConfigChange(r);
  return { ok: true };
}

/** An added member first catches up, then appends wait for earlier entries to commit, then the config entry. */
function stepConfigChange(r: ReplicaState): void {
  const cc = r.configChange!;
  if (cc.appendedEnd !== undefined) return;
  if (r.now >= cc.deadline) {
    r.configChange = undefined;
    syncProgress(r);
    r.sink.event({ type: "config", group: r.group, version: cc.config.version, committed: false });
    return;
  }
  if (!cc.barrier) {
    const p = r.progress.get(cc.target!);
    if (!p || p.matchEnd < r.committedEnd) return;
    // Otherwise the lease could lapse at the switch: the quorum of the new config may need the joiner's grant.
    if (!r.election.grantFrom(cc.target!, r.now)) return;
    cc.barrier = true;
  }
  freeze(r);
  if (r.committedEnd < r.log.end && !(r.opts.unsafe.changeBeforeStartWorking && r.role === "candidate"))
    return;
  // No room in the WAL for the config entry (even in the headroom): wait for recycling, up to the deadline.
  if (!reserveControl(r, cc.config)) return;
  cc.appendedEnd = appendControl(r, EntryKind.config, cc.config);
  r.sink.event({ type: "config", group: r.group, version: cc.config.version, committed: false });
}

export function transferLeader(r: ReplicaState, target: ReplicaId): AdminOutcome {
  if (r.role !== "leader" || !r.election.leaseValid(r.now))
    return { ok: false, code: "NOT_LEADER", reason: "not the leader" };
  if (target === r.self) return { ok: false, code: "INVALID", reason: "already the leader" };
  if (!isMember(r.config, target)) return { ok: false, code: "INVALID", reason: `${target} is not a member` };
  if (r.configChange || r.transfer) return { ok: false, code: "BUSY", reason: "another change is running" };
  r.transfer = { target, deadline: r.now + r.opts.transferTimeoutMs };
  stepTransfer(r);
  return { ok: true };
}

/** Once the target holds our whole log: drop the lease first, then tell members to release it to the target. */
function stepTransfer(r: ReplicaState): void {
  const t = r.transfer!;
  if (r.now >= t.deadline) {
    r.transfer = undefined;
    return;
  }
  freeze(r);
  const p = r.progress.get(t.target);
  if (!p || p.matchEnd < r.log.end || r.gate.durableEnd < r.log.end) return;
  handLeaseTo(r, t.target, r.config.members);
  r.transfer = undefined;
  r.progress.clear();
  r.startWorkingEnd = Number.POSITIVE_INFINITY;
  r.transition({ type: "TRANSFER" });
  r.maybeResolved();
}

/**
 * Gives our lease to `target`: drop it first, then every member releases the grant it gave us in favour of
 * the target, and the target stands at once. The caller changes the role.
 */
export function handLeaseTo(r: ReplicaState, target: ReplicaId, members: readonly ReplicaId[]): void {
  const ballot = r.election.myBallot;
  if (!r.opts.unsafe.transferKeepsLease) r.election.drop();
  r.election.release(r.self, ballot, target, r.now);
  for (const to of members) {
    if (to === r.self) continue;
    r.send({ type: "abdicate", group: r.group, inc: r.inc, from: r.self, to, ballot, target });
  }
  r.send({ type: "timeoutNow", group: r.group, inc: r.inc, from: r.self, to: target, ballot });
}
