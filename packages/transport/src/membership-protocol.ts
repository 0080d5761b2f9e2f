import type { ConfigChange, MemberConfig } from "@palf/core";

/** Whether a change already holds in a config: clients skip what is done (re-runs are idempotent). */
export { changeHolds } from "@palf/core";
export type { ConfigChange, MemberConfig };

/**
 * The membership part of the client RPC: a config change on a group's leader (answered once the config
 * entry committed, or why not), and a page of the groups a node hosts with their membership and progress.
 */
export type MembershipRequest =
  | {
      readonly op: "changeConfig";
      readonly group: number;
      readonly change: ConfigChange;
      /** How long the leader waits for the change to commit before answering TIMEOUT (ms). */
      readonly waitMs?: number;
    }
  /** Groups hosted here with ids >= `fromGroup`, at most `limit` of them, in id order. */
  | { readonly op: "groups"; readonly fromGroup?: number; readonly limit?: number };

export type MembershipResponse =
  | { readonly ok: true; readonly op: "changeConfig"; readonly config: MemberConfig }
  | {
      readonly ok: true;
      readonly op: "groups";
      readonly groups: readonly GroupSummary[];
      /** The `fromGroup` of the next page; null when this page was the last. */
      readonly next: number | null;
    };

/** One replica of one group as its node sees it. */
export interface GroupSummary {
  readonly group: number;
  readonly inc: number;
  readonly role: string;
  /** The leader this replica knows of (itself when it leads), or null. */
  readonly leader: string | null;
  readonly halted: boolean;
  readonly config: MemberConfig;
  readonly base: number;
  readonly end: number;
  readonly committedEnd: number;
  /** A config change is running on this leader. */
  readonly changing: boolean;
  /** The entry of `config` is committed (always true while the group never changed its membership). */
  readonly configCommitted: boolean;
  /** On the leader: bytes each other replica lags behind the committed end (null: not acked yet). */
  readonly lag?: Readonly<Record<string, number | null>>;
}

/** Most groups one `groups` page holds: keeps an answer well below NATS's 1 MiB payload. */
export const MAX_GROUPS_PAGE = 1000;
/** Longest a `changeConfig` may wait for its commit (ms). */
export const MAX_CHANGE_WAIT_MS = 600_000;

const CHANGE_TYPES = new Set([
  "addMember",
  "removeMember",
  "addLearner",
  "removeLearner",
  "promoteLearner",
  "demoteMember",
]);
const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Checks a membership request's shape; bad input gives a reason. */
export function decodeMembershipRequest(r: Record<string, unknown>): MembershipRequest | { bad: string } {
  const group = (x: unknown) => Number.isInteger(x) && (x as number) >= 0 && (x as number) <= 0xffff_ffff;
  const within = (x: unknown, lo: number, hi: number) =>
    x === undefined || (Number.isInteger(x) && (x as number) >= lo && (x as number) <= hi);
  if (r.op === "groups") {
    if (!within(r.fromGroup, 0, 0xffff_ffff)) return { bad: "fromGroup must be a group id" };
    if (!within(r.limit, 1, MAX_GROUPS_PAGE)) return { bad: `limit must be in [1, ${MAX_GROUPS_PAGE}]` };
    return r as unknown as MembershipRequest;
  }
  if (!group(r.group)) return { bad: "changeConfig needs a group id (uint32)" };
  if (!within(r.waitMs, 1, MAX_CHANGE_WAIT_MS))
    return { bad: `waitMs must be in [1, ${MAX_CHANGE_WAIT_MS}]` };
  const c = r.change as Record<string, unknown> | null;
  if (typeof c !== "object" || c === null) return { bad: "changeConfig needs a change" };
  if (c.type === "setReplicaNum") {
    return Number.isInteger(c.replicaNum) && (c.replicaNum as number) >= 1 && (c.replicaNum as number) <= 15
      ? {
          op: "changeConfig",
          group: r.group as number,
          change: { type: "setReplicaNum", replicaNum: c.replicaNum as number },
          ...waitOf(r),
        }
      : { bad: "setReplicaNum needs a replicaNum in [1, 15]" };
  }
  if (!CHANGE_TYPES.has(c.type as string)) return { bad: `unknown change type ${String(c.type)}` };
  if (typeof c.id !== "string" || !NODE_ID.test(c.id))
    return { bad: "the change needs a node id ([A-Za-z0-9_-])" };
  const change = { type: c.type, id: c.id } as ConfigChange;
  return { op: "changeConfig", group: r.group as number, change, ...waitOf(r) };
}

function waitOf(r: Record<string, unknown>): { waitMs?: number } {
  return r.waitMs === undefined ? {} : { waitMs: r.waitMs as number };
}
