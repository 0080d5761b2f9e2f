import type { Millis, ReplicaId } from "./types.ts";

/**
 * Lease renewals a host coalesces across groups: one message per node pair per interval renews every group
 * the sender leads with the receiver as a member, and neither side touches each group to do it. A replica
 * asks these lazily, where it would otherwise look at a per-group grant.
 */
export interface CoalescedLeases {
  /** Member side: our grant for (group, ballot) to `peer` stays renewed until then. */
  grantRenewedUntil(group: number, peer: ReplicaId, ballot: number): Millis;
  /** Member side: some leader's renewals named this group until then; do not stand for election before. */
  leaderHeardUntil(group: number): Millis;
  /**
   * Leader side: `member`'s grant for our (group, ballot) counts until then (from its acks of our renewals).
   * The host wakes the group (a tick) once this could have passed without a newer ack, and when the group
   * leaves what the member's acks cover: a lease end that rests on it needs no per-group timer.
   */
  memberGrantUntil(group: number, member: ReplicaId, ballot: number): Millis;
  /**
   * Member side: we just granted this group's lease to `to`. Any other leader whose renewals name the group
   * must hear that we no longer renew it (its acks would otherwise keep counting a grant we moved).
   */
  grantMoved(group: number, to: ReplicaId): void;
  /**
   * Changes whenever a memberGrantUntil answer may have moved (cached lease ends compare it). The member
   * side's answers are read fresh, so its renewals need not change it: a leader's 10,000 cached lease ends
   * would otherwise all be recomputed after every renewal its node answered.
   */
  readonly version: number;
  /**
   * Changes whenever a memberGrantUntil answer may have moved EARLIER (what a member's acks cover was
   * replaced); between changes those answers only move later, as newer acks arrive. So a lease end computed
   * since the last change, and still ahead, still holds (leaseValid needs no recompute per append).
   */
  readonly coverageVersion: number;
}
