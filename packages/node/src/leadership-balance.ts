import type { Replica } from "@palf/core";

/** The member that should lead `group` when it can: spreads leaderships evenly over the members. */
export function preferredLeader(group: number, members: readonly string[]): string | undefined {
  return members.length > 0 ? [...members].sort()[group % members.length] : undefined;
}

/**
 * Leadership balance: a group's preferred leader is a fixed member chosen by the group id; a leader that
 * is not it hands over once the preferred member is a caught-up member again (after a restart, say).
 * Returns the replicas that started a transfer (they need a turn).
 */
export function rebalance(replicas: Iterable<Replica>, self: string, now: number): Replica[] {
  const moved: Replica[] = [];
  for (const r of replicas) {
    if (r.role !== "leader") continue;
    const preferred = preferredLeader(r.group, r.latestConfig.members);
    if (preferred === self || preferred === undefined) continue;
    if (!r.peerHasWholeLog(preferred)) continue;
    if (r.transferLeader(preferred, now).ok) moved.push(r);
  }
  return moved;
}

/** Hands every leadership to another member (graceful stop); these replicas stand for no election after. */
export function transferAll(replicas: Iterable<Replica>, self: string, now: number): void {
  for (const r of replicas) {
    r.setPriority(-1);
    if (r.role !== "leader") continue;
    const target = r.latestConfig.members.find((m) => m !== self);
    if (target) r.transferLeader(target, now);
  }
}

/**
 * Hands each leadership to a member that has the whole log (the disk is nearly full: appends here would only
 * meet back-pressure, while the others can still acknowledge). Priorities stay: if every member is short of
 * space, a group keeps a leader for reads. Returns the replicas that started a transfer.
 */
export function handLeadershipsAway(replicas: Iterable<Replica>, self: string, now: number): Replica[] {
  const moved: Replica[] = [];
  for (const r of replicas) {
    if (r.role !== "leader") continue;
    const target = r.latestConfig.members.find((m) => m !== self && r.peerHasWholeLog(m));
    if (target && r.transferLeader(target, now).ok) moved.push(r);
  }
  return moved;
}
