/**
 * Client-history checking for the simulator: record what simulated clients sent and got back
 * (HistoryRecorder), then judge it at the end of a seed with analyzeHistory / checkHistory (per-group
 * rules plus a Porcupine-style linearizability search per group).
 */

export { describeOp } from "./describe-op.ts";
export {
  type AppendInput,
  type AppendOp,
  type AppendOutcome,
  type ClientId,
  HistoryRecorder,
  type Operation,
  type OpHandle,
  type OpInput,
  type OpKind,
  type OutcomeOf,
  type ReadEntry,
  type ReadInput,
  type ReadOp,
  type ReadOutcome,
  type SessionRef,
} from "./history.ts";
export {
  analyzeHistory,
  checkHistory,
  type HistoryCheckOptions,
  type HistoryReport,
  type HistorySummary,
  type UncertainCounts,
} from "./history-checker.ts";
export {
  checkGroupLinearizability,
  checkLinearizability,
  DEFAULT_STEP_BUDGET,
  type LinearizabilityOptions,
  type LinearizabilityResult,
} from "./linearizability.ts";
export { type Model, type SearchResult, searchLinearization, type TimedOp } from "./linearization-search.ts";
export { type LogInput, type LogOutput, type LogState, logModel } from "./log-model.ts";
export type { UncertainAppend } from "./uncertain-appends.ts";
