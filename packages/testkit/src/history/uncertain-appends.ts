import type { AppendIndex } from "./append-index.ts";
import type { GroupFindings } from "./group-rules.ts";
import { isAppend, type Operation } from "./history.ts";

/**
 * What reads tell about an append whose client never learned its fate:
 * - committed: its bytes were seen at `lsn`;
 * - absent: reads covered every LSN it could have taken, up to the highest committed end any read saw, and
 *   it was not there (it could still commit later, above everything that was read);
 * - unresolved: reads left a gap where it could be.
 */
export interface UncertainAppend {
  readonly op: number;
  readonly group: number;
  readonly answer: "indeterminate" | "no answer";
  readonly state: "committed" | "absent" | "unresolved";
  readonly lsn?: number;
}

/** Resolves the indeterminate and unanswered appends of one group; none of this is a violation. */
export function resolveUncertainAppends(
  ops: readonly Operation[],
  indices: readonly number[],
  index: AppendIndex,
  findings: GroupFindings,
): UncertainAppend[] {
  const reads: { call: number; ret: number; from: number; next: number; committedEnd: number }[] = [];
  for (const i of indices) {
    const op = ops[i]!;
    if (!isAppend(op) && op.output?.status === "ok")
      reads.push({
        call: op.call,
        ret: op.ret!,
        from: op.input.fromLsn,
        next: op.output.next,
        committedEnd: op.output.committedEnd,
      });
  }
  const covered = mergeRanges(reads.filter((r) => r.next > r.from));
  const highestEnd = reads.reduce((m, r) => Math.max(m, r.committedEnd), 0);

  const resolved: UncertainAppend[] = [];
  for (const i of indices) {
    const op = ops[i]!;
    if (!isAppend(op) || op.output?.status === "committed" || op.output?.status === "failed") continue;
    const answer = op.output === undefined ? "no answer" : "indeterminate";
    const appended = index.lookup(op.group, op.input.payload);
    const lsn = appended === undefined ? undefined : findings.lsnsOf.get(appended)?.[0];
    if (lsn !== undefined) {
      resolved.push({ op: i, group: op.group, answer, state: "committed", lsn });
      continue;
    }
    // The leader gives a new entry an LSN at or above every committed end that existed before the call
    // (of the session's first attempt: a retry may find the entry an earlier attempt placed).
    const firstCall = appended?.firstCall ?? op.call;
    const lowest = reads.reduce((m, r) => (r.ret < firstCall ? Math.max(m, r.committedEnd) : m), 0);
    // Only reads that ran after the client stopped waiting say anything about where it went.
    const lookedAfter = reads.some((r) => r.call > (op.ret ?? op.call));
    const absent =
      lookedAfter && (lowest >= highestEnd || covered.some((c) => c.from <= lowest && c.to >= highestEnd));
    resolved.push({ op: i, group: op.group, answer, state: absent ? "absent" : "unresolved" });
  }
  return resolved;
}

/** The union of [from, next) ranges as disjoint ranges, ascending. */
function mergeRanges(ranges: readonly { from: number; next: number }[]): { from: number; to: number }[] {
  const sorted = [...ranges].sort((a, b) => a.from - b.from);
  const merged: { from: number; to: number }[] = [];
  for (const r of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && r.from <= last.to) last.to = Math.max(last.to, r.next);
    else merged.push({ from: r.from, to: r.next });
  }
  return merged;
}
