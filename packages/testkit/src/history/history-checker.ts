import { AppendIndex } from "./append-index.ts";
import { checkGroupRules } from "./group-rules.ts";
import { indicesByGroup, isAppend, type Operation } from "./history.ts";
import {
  checkGroupLinearizability,
  type LinearizabilityOptions,
  type LinearizabilityResult,
} from "./linearizability.ts";
import { resolveUncertainAppends, type UncertainAppend } from "./uncertain-appends.ts";
import { ViolationList } from "./violation-list.ts";

export interface HistoryCheckOptions extends LinearizabilityOptions {
  /** Also search for a linearization of each group (default true). */
  readonly linearizability?: boolean;
  /** List at most this many violations (default 100); one more line counts the rest. */
  readonly maxViolations?: number;
}

/** How often each uncertain append turned out committed, absent, or unknowable from the reads. */
export interface UncertainCounts {
  total: number;
  committed: number;
  absent: number;
  unresolved: number;
}

export interface HistorySummary {
  operations: number;
  groups: number;
  appends: number;
  committed: number;
  failed: number;
  /** Appends answered `indeterminate`. */
  indeterminate: UncertainCounts;
  /** Appends that got no answer at all. */
  unanswered: UncertainCounts;
  reads: number;
  linearizableReads: number;
  /** Distinct LSNs seen holding a data entry, over all groups. */
  observedEntries: number;
  /** Groups per linearizability result (all zero when that check was off). */
  linearizability: { ok: number; violation: number; unknown: number };
}

export interface HistoryReport {
  /** Human-readable, each naming the group, LSN, client and op index involved. Empty = clean. */
  readonly violations: string[];
  readonly summary: HistorySummary;
  /** Every indeterminate or unanswered append and what the reads tell about it. */
  readonly uncertain: readonly UncertainAppend[];
  /** One per group, ascending (empty when that check was off); "unknown" ones are not violations. */
  readonly linearizability: readonly LinearizabilityResult[];
}

/** The violations of a client history (see analyzeHistory); empty when the history is clean. */
export function checkHistory(ops: readonly Operation[], opts: HistoryCheckOptions = {}): string[] {
  return analyzeHistory(ops, opts).violations;
}

/**
 * Judges what clients saw: the per-group rules (committed entries read back unchanged, one entry per LSN,
 * CSN growing with LSN, a session committed once, failed appends never seen, no invented bytes, no read
 * showing an append called after it returned), then, unless turned off, the linearizability search.
 * Meant to run once per simulated seed on the recorder's operations.
 */
export function analyzeHistory(ops: readonly Operation[], opts: HistoryCheckOptions = {}): HistoryReport {
  const out = new ViolationList(opts.maxViolations ?? 100);
  const index = new AppendIndex(ops);
  for (const p of index.problems) out.add(p);
  const summary = countOps(ops);
  const uncertain: UncertainAppend[] = [];
  const linearizability: LinearizabilityResult[] = [];
  const byGroup = indicesByGroup(ops);
  summary.groups = byGroup.size;
  for (const [group, indices] of byGroup) {
    const findings = checkGroupRules(ops, group, indices, index, out);
    summary.observedEntries += findings.log.size;
    uncertain.push(...resolveUncertainAppends(ops, indices, index, findings));
    if (opts.linearizability === false) continue;
    const lin = checkGroupLinearizability(ops, group, indices, opts);
    linearizability.push(lin);
    summary.linearizability[lin.result]++;
    if (lin.detail !== undefined) out.add(lin.detail);
  }
  for (const u of uncertain) {
    const counts = u.answer === "indeterminate" ? summary.indeterminate : summary.unanswered;
    counts.total++;
    counts[u.state]++;
  }
  return { violations: out.toArray(), summary, uncertain, linearizability };
}

function countOps(ops: readonly Operation[]): HistorySummary {
  const none = (): UncertainCounts => ({ total: 0, committed: 0, absent: 0, unresolved: 0 });
  const s: HistorySummary = {
    operations: ops.length,
    groups: 0,
    appends: 0,
    committed: 0,
    failed: 0,
    indeterminate: none(),
    unanswered: none(),
    reads: 0,
    linearizableReads: 0,
    observedEntries: 0,
    linearizability: { ok: 0, violation: 0, unknown: 0 },
  };
  for (const op of ops) {
    if (isAppend(op)) {
      s.appends++;
      if (op.output?.status === "committed") s.committed++;
      if (op.output?.status === "failed") s.failed++;
    } else {
      s.reads++;
      if (op.input.linearizable) s.linearizableReads++;
    }
  }
  return s;
}
