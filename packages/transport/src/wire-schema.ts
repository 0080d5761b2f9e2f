import type { Envelope, GroupEntry, Message, MessageType } from "@palf/core";

/**
 * How a peer message travels inside a frame: as a positional tuple, not a map, so no field name is sent and
 * a decoded message has exactly the fields its type declares (nothing extra from a hostile sender):
 *
 *   [typeCode, group, inc, fromId, toId, ...fields of the type in FIELDS order]
 *
 * fromId/toId/target are indexes into the frame's string table (a batch to one peer repeats the same two
 * node ids in every message). A config version travels as two numbers; group entries as a flat number
 * array (ENTRY_WIDTH numbers per entry) with their bodies in the frame's body section.
 */

/** Wire code of each message type is its index. Append only: changing a code needs a new frame version. */
export const TYPE_CODES = [
  "vote",
  "voteReply",
  "abdicate",
  "timeoutNow",
  "prepare",
  "prepareReply",
  "fetch",
  "fetchReply",
  "push",
  "ack",
  "commitInfo",
  "rebuild",
  "leaseRenew",
  "leaseRenewReply",
  "notMember",
] as const satisfies readonly MessageType[];

type Of<T extends MessageType> = Extract<Message, { type: T }>;
type BodyKey<T extends MessageType> = Exclude<keyof Of<T>, "type" | keyof Envelope>;

/** The fields after the envelope, in wire order. Changing an order or a list needs a new frame version. */
export const FIELDS = {
  vote: ["ballot", "priority", "seq", "renew", "cfg"],
  voteReply: ["ballot", "seq", "granted", "highestBallot", "cfg"],
  abdicate: ["ballot", "target"],
  timeoutNow: ["ballot"],
  prepare: ["pid"],
  prepareReply: ["pid", "ok", "promised", "lastPid", "end", "baseLsn"],
  fetch: ["pid", "fromLsn", "toLsn"],
  fetchReply: ["pid", "prevLsn", "prevPid", "entries", "base"],
  push: ["pid", "prevLsn", "prevPid", "entries", "committedEnd"],
  ack: ["pid", "ok", "end", "committedEnd", "retryFrom", "promised"],
  commitInfo: ["pid", "prevLsn", "prevPid", "committedEnd"],
  rebuild: ["pid", "base"],
  leaseRenew: ["seq", "epoch", "groups"],
  leaseRenewReply: ["seq", "epoch", "refused", "needSet"],
  notMember: ["cfg"],
} as const satisfies { [T in MessageType]: readonly BodyKey<T>[] };

type Unlisted = { [T in MessageType]: Exclude<BodyKey<T>, (typeof FIELDS)[T][number]> }[MessageType];
type MustBeNever<T extends never> = T;
/** Fails to compile, naming the field, when core adds a message field that FIELDS does not carry. */
export type FieldsCoverEveryMessageField = MustBeNever<Unlisted>;

/** How one field is written; chosen by field name, the same for every type that has the field. */
export const Kind = {
  /** Written as is (numbers, booleans). */
  plain: 0,
  /** A node id: an index into the frame's string table. */
  id: 1,
  /** A ConfigVersion: two numbers, pid then seq. */
  version: 2,
  /** Group entries: one flat number array; bodies go to the body section. */
  entries: 3,
  /** A nested object (BaseInfo), or null when absent. */
  nested: 4,
} as const;
export type Kind = (typeof Kind)[keyof typeof Kind];

const KIND_OF: Record<string, Kind> = {
  target: Kind.id,
  cfg: Kind.version,
  entries: Kind.entries,
  base: Kind.nested,
};

/** Per type code: field names and kinds, and the exact tuple length a well-formed tuple has. */
export interface Plan {
  readonly type: MessageType;
  readonly names: readonly string[];
  readonly kinds: readonly Kind[];
  readonly tupleLength: number;
}

export const ENVELOPE_SLOTS = 5;

export const PLANS: readonly Plan[] = TYPE_CODES.map((type) => {
  const names: readonly string[] = FIELDS[type];
  const kinds = names.map((n) => KIND_OF[n] ?? Kind.plain);
  const slots = kinds.reduce<number>((sum, k) => sum + (k === Kind.version ? 2 : 1), 0);
  return { type, names, kinds, tupleLength: ENVELOPE_SLOTS + slots };
});

export const CODE_OF = Object.fromEntries(TYPE_CODES.map((t, i) => [t, i])) as Record<MessageType, number>;

/**
 * A run: consecutive messages of one type between the same two replicas, as one tuple
 *
 *   [RUN_CODE, typeCode, fromId, toId, flat]
 *
 * where `flat` holds, per message, its group, its inc and its fields in FIELDS order (runWidth numbers or
 * booleans each). A follower's acks of one loop turn travel this way as one ack vector per peer (and a
 * leader's commit infos as one vector), instead of a tuple per group that repeats the type and both ids.
 * Only types whose fields are all plain numbers or booleans travel in runs (RUN_WIDTH is undefined for the
 * others).
 */
export const RUN_CODE = TYPE_CODES.length;
export const RUN_TUPLE_LENGTH = 5;

const RUN_TYPES: ReadonlySet<MessageType> = new Set([
  "ack",
  "commitInfo",
  "prepare",
  "prepareReply",
  "fetch",
  "timeoutNow",
]);

/** Per type code: numbers per message in a run (group, inc, then the fields), or undefined if it never runs. */
export const RUN_WIDTH: readonly (number | undefined)[] = PLANS.map((p) =>
  RUN_TYPES.has(p.type) && p.kinds.every((k) => k === Kind.plain) ? 2 + p.names.length : undefined,
);

/**
 * Group entry header fields in wire order, then the body length. `end` travels although it is derivable,
 * so a sender's inconsistent entry is caught by core's groupEntryProblem instead of silently repaired.
 */
export const ENTRY_FIELDS = [
  "pid",
  "lsn",
  "end",
  "count",
  "maxCsn",
  "flags",
  "checksum",
  "accum",
  "committedEnd",
] as const satisfies readonly (keyof GroupEntry)[];
/** Fails to compile, naming the field, when core adds a group entry field that ENTRY_FIELDS does not carry. */
export type EntryFieldsCoverGroupEntry = MustBeNever<
  Exclude<keyof GroupEntry, (typeof ENTRY_FIELDS)[number] | "body">
>;
export const ENTRY_WIDTH = ENTRY_FIELDS.length + 1;
