import { hasDuplicates, isCounter, isGroupId } from "@palf/core";

/**
 * Why a group cannot be created with these arguments, or undefined. The RPC decoder checks the same at the
 * edge; this covers callers of the node's own API, so no path creates a group the WAL cannot store or a
 * member list whose quorums would count one node twice.
 */
export function groupArgsProblem(
  group: number,
  members: readonly string[],
  learners: readonly string[],
  inc: number,
): string | undefined {
  if (!isGroupId(group)) return `group id ${group} is not a uint32`;
  if (members.length === 0) return "a group needs at least one member";
  if (hasDuplicates([...members, ...learners]))
    return `members and learners must be distinct node ids: ${[...members, ...learners].join(",")}`;
  if (!isCounter(inc)) return `incarnation ${inc} is not a natural number up to 2^52`;
  return undefined;
}
