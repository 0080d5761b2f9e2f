import type { MemberConfig, ReplicaId } from "./types.ts";

/** One membership change; each one is its own config entry, one at a time. */
export type ConfigChange =
  | { readonly type: "addMember"; readonly id: ReplicaId }
  | { readonly type: "removeMember"; readonly id: ReplicaId }
  | { readonly type: "addLearner"; readonly id: ReplicaId }
  | { readonly type: "removeLearner"; readonly id: ReplicaId }
  | { readonly type: "promoteLearner"; readonly id: ReplicaId }
  | { readonly type: "demoteMember"; readonly id: ReplicaId }
  | { readonly type: "setReplicaNum"; readonly replicaNum: number };

export function quorum(config: MemberConfig): number {
  return Math.floor(config.replicaNum / 2) + 1;
}

export function isMember(config: MemberConfig, id: ReplicaId): boolean {
  return config.members.includes(id);
}

export function isLearner(config: MemberConfig, id: ReplicaId): boolean {
  return config.learners.includes(id);
}

/** Everyone who receives the log: members and learners. */
export function replicasOf(config: MemberConfig): ReplicaId[] {
  return [...config.members, ...config.learners];
}

export function initialConfig(
  members: readonly ReplicaId[],
  learners: readonly ReplicaId[] = [],
): MemberConfig {
  return {
    version: { pid: 0, seq: 0 },
    members: [...members],
    learners: [...learners],
    replicaNum: members.length,
  };
}

/** The change already holds in `config` (re-running it would change nothing). */
export function changeHolds(config: MemberConfig, change: ConfigChange): boolean {
  switch (change.type) {
    case "addMember":
    case "promoteLearner":
      return config.members.includes(change.id);
    case "removeMember":
      return !config.members.includes(change.id);
    case "addLearner":
    case "demoteMember":
      return config.learners.includes(change.id);
    case "removeLearner":
      return !config.learners.includes(change.id);
    case "setReplicaNum":
      return config.replicaNum === change.replicaNum;
  }
}

/**
 * Applies a change, or says why it is not allowed. Every change must keep q_old + q_new > |M_old ∪ M_new|,
 * so any quorum of the old config and any quorum of the new one intersect (a replica-number change can break it).
 * `unsafeSkipQuorumChecks` is UnsafeSwitches.skipQuorumIntersection (test-only).
 */
export function applyChange(
  old: MemberConfig,
  change: ConfigChange,
  version: MemberConfig["version"],
  unsafeSkipQuorumChecks = false,
): MemberConfig | string {
  const members = [...old.members];
  const learners = [...old.learners];
  let replicaNum = old.replicaNum;
  const known = (id: ReplicaId) => members.includes(id) || learners.includes(id);
  switch (change.type) {
    case "addMember":
      if (known(change.id)) return `${change.id} is already in the config`;
      members.push(change.id);
      replicaNum += 1;
      break;
    case "removeMember":
      if (!members.includes(change.id)) return `${change.id} is not a member`;
      members.splice(members.indexOf(change.id), 1);
      replicaNum -= 1;
      break;
    case "addLearner":
      if (known(change.id)) return `${change.id} is already in the config`;
      learners.push(change.id);
      break;
    case "removeLearner":
      if (!learners.includes(change.id)) return `${change.id} is not a learner`;
      learners.splice(learners.indexOf(change.id), 1);
      break;
    case "promoteLearner":
      if (!learners.includes(change.id)) return `${change.id} is not a learner`;
      learners.splice(learners.indexOf(change.id), 1);
      members.push(change.id);
      replicaNum += 1;
      break;
    case "demoteMember":
      if (!members.includes(change.id)) return `${change.id} is not a member`;
      members.splice(members.indexOf(change.id), 1);
      learners.push(change.id);
      replicaNum -= 1;
      break;
    case "setReplicaNum":
      if (!Number.isInteger(change.replicaNum) || change.replicaNum < 1)
        return "replicaNum must be a positive integer";
      replicaNum = change.replicaNum;
      break;
  }
  const next: MemberConfig = { version, members, learners, replicaNum };
  const q = quorum(next);
  if (members.length < q) return `only ${members.length} members for a quorum of ${q}`;
  if (replicaNum < members.length && !unsafeSkipQuorumChecks)
    return `replicaNum ${replicaNum} is below the member count ${members.length}`;
  const union = new Set([...old.members, ...members]).size;
  if (quorum(old) + q <= union && !unsafeSkipQuorumChecks) {
    return `quorums of the old and new config would not intersect (${quorum(old)} + ${q} <= ${union})`;
  }
  return next;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Config entries carry their config as JSON: they are rare, and JSON keeps the core free of codecs. */
export function encodeConfig(config: MemberConfig): Uint8Array {
  return encoder.encode(JSON.stringify(config));
}

export function decodeConfig(bytes: Uint8Array): MemberConfig {
  const c = JSON.parse(decoder.decode(bytes)) as MemberConfig;
  const ids = (x: unknown) => Array.isArray(x) && x.every((i) => typeof i === "string");
  if (
    typeof c !== "object" ||
    !ids(c.members) ||
    !ids(c.learners) ||
    !Number.isInteger(c.replicaNum) ||
    !Number.isInteger(c.version?.pid) ||
    !Number.isInteger(c.version?.seq)
  ) {
    throw new Error("malformed config entry");
  }
  return c;
}
