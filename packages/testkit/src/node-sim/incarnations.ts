/**
 * Incarnations in the whole-node simulator's checks. A deleted and recreated group starts a new log (LSNs,
 * pids and ballots from scratch), so to every checker it is a new group: incarnation k of group g is judged
 * under the key g + k * INC_STRIDE (client histories, the white-box Checker, lease and log-matching checks),
 * and violation texts name it "g#k". Incarnation 0 keeps the plain group number.
 */
import type { GroupEntryResult, Replica, ReplicaEvent } from "@palf/core";

/** Group ids of the simulator stay below this. */
export const INC_STRIDE = 1000;

/** The checkers' key of incarnation `inc` of `group`. */
export function incKey(group: number, inc: number): number {
  return inc === 0 ? group : group + inc * INC_STRIDE;
}

export function groupOfKey(key: number): number {
  return key % INC_STRIDE;
}

export function incOfKey(key: number): number {
  return Math.floor(key / INC_STRIDE);
}

/** "group 2003" -> "group 3#2" in a violation text. */
export function nameIncarnations(text: string): string {
  return text.replace(/\bgroup (\d+)\b/g, (whole, n: string) => {
    const key = Number(n);
    return key < INC_STRIDE ? whole : `group ${groupOfKey(key)}#${incOfKey(key)}`;
  });
}

/** The replica if it belongs to the incarnation `key` names. */
export function replicaOfKey(r: Replica | undefined, key: number): Replica | undefined {
  return r !== undefined && r.inc === incOfKey(key) ? r : undefined;
}

/** A replica event as the Checker sees it: its group is the incarnation's key. */
export function keyedEvent(e: ReplicaEvent, inc: number): ReplicaEvent {
  return inc === 0 ? e : { ...e, group: incKey(e.group, inc) };
}

export function keyedResult(res: GroupEntryResult, inc: number): GroupEntryResult {
  return inc === 0 ? res : { ...res, group: incKey(res.group, inc) };
}

/** Replicas of one group split by incarnation, keyed for the Checker (log matching holds per incarnation). */
export function byIncarnation(group: number, replicas: readonly Replica[]): Map<number, Replica[]> {
  const out = new Map<number, Replica[]>();
  for (const r of replicas) {
    const key = incKey(group, r.inc);
    const list = out.get(key);
    if (list) list.push(r);
    else out.set(key, [r]);
  }
  return out;
}

/**
 * What a restarted replica's incarnation says about recovery, given the one it had when its process died
 * and whether anything of that one was durable then (an entry or a promise: both follow its creation's base
 * record in the WAL). Undefined when the two agree; otherwise the violation, or "" when a recreation that was
 * not yet durable was legitimately lost (the older incarnation comes back; the driver deletes it again).
 */
export function incarnationProblem(before: number, durable: boolean, after: number): string | undefined {
  if (after === before) return undefined;
  if (after < before && !durable) return "";
  return `had durably joined incarnation ${before} but recovered incarnation ${after}`;
}
