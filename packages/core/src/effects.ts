import type { GroupEntry } from "./group-entry.ts";
import type { Message } from "./messages.ts";
import type {
  BaseInfo,
  ConfigVersion,
  Csn,
  DurableMeta,
  GroupId,
  Lsn,
  Millis,
  Pid,
  ReplicaId,
} from "./types.ts";

/** What a replica asks its host to make durable, in order. */
export type PersistRecord =
  | { readonly kind: "meta"; readonly meta: DurableMeta }
  | { readonly kind: "entry"; readonly entry: GroupEntry }
  | { readonly kind: "truncate"; readonly lsn: Lsn }
  | { readonly kind: "base"; readonly base: BaseInfo; readonly reset: boolean };

/**
 * An admitted append's id (`propose` answers it), unique within one Replica's life and increasing: the host
 * maps it to whoever waits for the append's answer.
 */
export type AppendId = number;

/**
 * The explicit result of one group entry this replica issued as leader: every append in [from, to) under
 * `pid`, which are the appends `appends` (the client's `CommittedAppend` is one append's answer to its caller).
 */
export interface GroupEntryResult {
  readonly group: GroupId;
  readonly outcome: "committed" | "failed" | "indeterminate";
  readonly pid: Pid;
  readonly from: Lsn;
  readonly to: Lsn;
  readonly appends: readonly AppendId[];
}

/**
 * The answer to a retried append the log already held above the commit point (`propose` answered it
 * `duplicate` with an id): once the commit point passes `lsn`, `committed` if the entry there carries the
 * retry's session (`csn` is its CSN), else `indeterminate` (the entry was replaced, or is below the base).
 */
export interface RetryResult {
  readonly group: GroupId;
  readonly id: AppendId;
  readonly outcome: "committed" | "indeterminate";
  readonly lsn: Lsn;
  readonly csn: Csn;
}

export type Role = "follower" | "candidate" | "leader" | "pendingFollower";

export type ReplicaEvent =
  | {
      readonly type: "role";
      readonly group: GroupId;
      readonly role: Role;
      readonly pid: Pid;
      readonly at: Millis;
    }
  | { readonly type: "halted"; readonly group: GroupId; readonly reason: string }
  /** A member's committed config (version `version`) names this replica nowhere: its host drops it. */
  | {
      readonly type: "removed";
      readonly group: GroupId;
      readonly by: ReplicaId;
      readonly version: ConfigVersion;
    }
  | { readonly type: "rebuilt"; readonly group: GroupId; readonly base: BaseInfo }
  | { readonly type: "rejected"; readonly group: GroupId; readonly from: ReplicaId; readonly reason: string }
  | {
      readonly type: "config";
      readonly group: GroupId;
      readonly version: ConfigVersion;
      readonly committed: boolean;
    }
  | { readonly type: "truncated"; readonly group: GroupId; readonly lsn: Lsn; readonly role: Role }
  | { readonly type: "committed"; readonly group: GroupId; readonly committedEnd: Lsn };

/**
 * The host side of a replica: every effect goes out through here. The core never waits on it.
 * Contract: records passed to `persist` are written in order; when everything up to `seq` is durable
 * the host calls `replica.durable(seq)`. Messages passed to `send` may leave at once: the core holds back
 * anything that depends on durability until then.
 */
export interface EffectSink {
  persist(group: GroupId, seq: number, record: PersistRecord): void;
  send(message: Message): void;
  result(result: GroupEntryResult): void;
  /** A watched retry is settled (hosts that answer callers need it; a checker of group entries may skip it). */
  retryResult?(result: RetryResult): void;
  event(event: ReplicaEvent): void;
  /** The replica wants `tick` no later than `at` (replaces any earlier request). */
  wake(group: GroupId, at: Millis): void;
}
