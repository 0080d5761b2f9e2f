/**
 * Transaction-history checkers: a Jepsen-style bank check (money is conserved in every snapshot) and an
 * Elle-style list-append check (dependency cycles, aborted and intermediate reads, lost updates,
 * real-time violations of strong snapshot isolation). Pure functions over recorded histories.
 */
export {
  type BankCheckInput,
  type BankCheckResult,
  type BankRead,
  type BankViolation,
  type BankViolationKind,
  checkBank,
  FINAL_STATE,
  type TxnId,
} from "./bank-check.ts";
export {
  type ConsistencyModel,
  type CycleKind,
  forbids,
  type ListAppendAnomalyKind,
} from "./consistency-model.ts";
export type { EdgeType } from "./dependency-graph.ts";
export {
  type CycleStep,
  checkListAppend,
  type ListAppendAnomaly,
  type ListAppendCheckOptions,
  type ListAppendCheckResult,
} from "./list-append-check.ts";
export {
  type AppendMop,
  type ListAppendMop,
  type ListAppendTxn,
  type ListKey,
  type ReadMop,
  TxnHistoryError,
  type TxnStatus,
  validateListAppendHistory,
} from "./list-append-history.ts";
