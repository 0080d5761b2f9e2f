import type { LeaseOptions } from "./election.ts";
import type { GroupEntry } from "./group-entry.ts";
import type { BaseInfo, DurableMeta, GroupId, MemberConfig, ReplicaId } from "./types.ts";
import { safe, type UnsafeSwitches } from "./unsafe-switches.ts";

/** How one replica is set up. Everything but the ids has a default. */
export interface ReplicaOptions {
  readonly group: GroupId;
  readonly self: ReplicaId;
  /** Incarnation of the group (a recreated group gets a new one). */
  readonly inc?: number;
  /** The group's config at creation; the log's config entries take over from there. */
  readonly initialConfig: MemberConfig;
  readonly priority?: number;
  /** Seeds election jitter; the simulator derives it from its own seed. */
  readonly seed?: number;
  readonly lease?: Partial<LeaseOptions>;
  /** No prepare majority (or fetch answer) in this long: retry with a higher pid. */
  readonly prepareTimeoutMs?: number;
  /** A follower that has not acked what was sent for this long gets it again. */
  readonly retransmitMs?: number;
  /**
   * How long a leader holds back commit info for followers that have its whole log, waiting for the next
   * push to carry the commit point instead (0: sent at the end of the turn that moved it). Under load a
   * push follows within a turn or two, so the commit info and its ack are never sent at all.
   */
  readonly commitInfoDelayMs?: number;
  /** Freeze the open group entry once it holds this many bytes. */
  readonly maxGroupEntryBytes?: number;
  /** At most this many body bytes per push or fetch reply (NATS caps a message at 1 MB by default). */
  readonly maxPushBytes?: number;
  readonly maxPayloadBytes?: number;
  /** Uncommitted bytes a leader accepts before it answers appends with back-pressure. */
  readonly maxPendingBytes?: number;
  readonly maxSessions?: number;
  readonly configChangeTimeoutMs?: number;
  readonly transferTimeoutMs?: number;
  /** Test-only: turns safety rules off so guard tests can show the checkers catch it. Never set in production. */
  readonly unsafe?: Partial<UnsafeSwitches>;
}

export type ResolvedOptions = Required<Omit<ReplicaOptions, "lease" | "seed">> & {
  readonly lease: LeaseOptions;
  readonly seed: number;
};

export const defaultLease: LeaseOptions = {
  leaseMs: 4000,
  renewMs: 500,
  maxDrift: 0.01,
  leaseGuardMs: 50,
  voteWindowMs: 100,
  electionJitterMs: 500,
};

export function resolveOptions(o: ReplicaOptions): ResolvedOptions {
  return {
    group: o.group,
    self: o.self,
    inc: o.inc ?? 0,
    initialConfig: o.initialConfig,
    priority: o.priority ?? 0,
    seed: o.seed ?? 1,
    lease: { ...defaultLease, ...o.lease },
    prepareTimeoutMs: o.prepareTimeoutMs ?? 1000,
    retransmitMs: o.retransmitMs ?? 500,
    commitInfoDelayMs: o.commitInfoDelayMs ?? 0,
    maxGroupEntryBytes: o.maxGroupEntryBytes ?? 256 * 1024,
    maxPushBytes: o.maxPushBytes ?? 768 * 1024,
    maxPayloadBytes: o.maxPayloadBytes ?? 512 * 1024,
    maxPendingBytes: o.maxPendingBytes ?? 32 * 1024 * 1024,
    maxSessions: o.maxSessions ?? 10_000,
    configChangeTimeoutMs: o.configChangeTimeoutMs ?? 10_000,
    transferTimeoutMs: o.transferTimeoutMs ?? 5_000,
    unsafe: o.unsafe ?? safe,
  };
}

/** What a replica recovers from after a crash: exactly what was durable. */
export interface DurableImage {
  readonly meta: DurableMeta;
  readonly base: BaseInfo;
  /** Group entries above the base, in LSN order, after applying truncations. */
  readonly entries: readonly GroupEntry[];
}
