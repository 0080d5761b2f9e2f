import { describeOp } from "./describe-op.ts";
import { indicesByGroup, isAppend, type Operation, payloadKey } from "./history.ts";
import { searchLinearization, type TimedOp } from "./linearization-search.ts";
import { describeLogState, type LogInput, type LogOutput, logModel } from "./log-model.ts";

export interface LinearizabilityOptions {
  /** Search steps allowed per group before giving up with "unknown" (default 500,000). */
  readonly stepBudget?: number;
}

export interface LinearizabilityResult {
  readonly result: "ok" | "violation" | "unknown";
  readonly group: number;
  readonly steps: number;
  /** How many ops took part: committed appends, appends seen in some read, linearizable reads. */
  readonly checkedOps: number;
  /** On a violation: why, in words. */
  readonly detail?: string;
  /** On a violation: the longest linearizable order found (op indices), then the op that could not follow. */
  readonly ops?: readonly number[];
}

export const DEFAULT_STEP_BUDGET = 500_000;

/**
 * Checks each group's history against the log model (groups are independent logs, so a history is
 * linearizable iff each group's part is: P-compositionality). Only linearizable reads take part; other
 * reads may lag and are covered by checkHistory. Results come in ascending group order.
 */
export function checkLinearizability(
  ops: readonly Operation[],
  opts: LinearizabilityOptions = {},
): LinearizabilityResult[] {
  return [...indicesByGroup(ops)].map(([group, indices]) =>
    checkGroupLinearizability(ops, group, indices, opts),
  );
}

/** One group: `indices` are the positions of its ops in `ops`. */
export function checkGroupLinearizability(
  ops: readonly Operation[],
  group: number,
  indices: readonly number[],
  opts: LinearizabilityOptions = {},
): LinearizabilityResult {
  const timed = timedOps(ops, indices);
  const found = searchLinearization(logModel, timed, opts.stepBudget ?? DEFAULT_STEP_BUDGET);
  const base = { group, steps: found.steps, checkedOps: timed.length };
  if (found.result !== "violation") return { ...base, result: found.result };
  const tail = found.prefix.slice(-5).map((i) => describeOp(ops, i));
  const detail =
    `group ${group} is not linearizable: ${describeOp(ops, found.blocked)} cannot take effect after the ` +
    `longest linearizable order found (${found.prefix.length} ops${tail.length > 0 ? `, ending ${tail.join("; ")}` : ""}); ` +
    `the log then held ${describeLogState(found.state)}`;
  return { ...base, result: "violation", detail, ops: [...found.prefix, found.blocked] };
}

/**
 * The ops that constrain a group's log, as the model sees them. Appends without a known outcome may have
 * taken effect at any time after their call, or never; only those whose bytes some read saw can matter
 * (an unseen one taking effect would only add constraints), and those took effect at the LSN where they
 * were seen. Failed appends, lagging reads and unanswered reads tell the model nothing.
 */
function timedOps(ops: readonly Operation[], indices: readonly number[]): TimedOp<LogInput, LogOutput>[] {
  const payloadIds = new Map<string, number>();
  const attempts = new Map<string, number>();
  const seenAt = new Map<string, number>();
  const idOf = (key: string) => {
    const known = payloadIds.get(key);
    if (known !== undefined) return known;
    payloadIds.set(key, payloadIds.size);
    return payloadIds.size - 1;
  };
  const see = (key: string, lsn: number) => seenAt.set(key, Math.min(lsn, seenAt.get(key) ?? lsn));
  for (const i of indices) {
    const op = ops[i]!;
    if (isAppend(op)) {
      const key = payloadKey(op.group, op.input.payload);
      idOf(key);
      attempts.set(key, (attempts.get(key) ?? 0) + 1);
      if (op.output?.status === "committed") see(key, op.output.lsn);
    } else if (op.output?.status === "ok")
      for (const e of op.output.entries) see(payloadKey(op.group, e.payload), e.lsn);
  }

  const timed: TimedOp<LogInput, LogOutput>[] = [];
  for (const i of indices) {
    const op = ops[i]!;
    if (isAppend(op)) {
      const key = payloadKey(op.group, op.input.payload);
      const input: LogInput = { type: "append", payloadId: idOf(key), retried: attempts.get(key)! > 1 };
      if (op.output?.status === "committed")
        timed.push({
          id: i,
          call: op.call,
          ret: op.ret ?? Number.POSITIVE_INFINITY,
          input,
          output: { lsn: op.output.lsn },
        });
      else if (op.output?.status !== "failed" && seenAt.has(key))
        // An indeterminate answer bounds nothing: the entry may still commit after the client heard back.
        timed.push({
          id: i,
          call: op.call,
          ret: Number.POSITIVE_INFINITY,
          input,
          output: { lsn: seenAt.get(key)! },
        });
    } else if (op.input.linearizable && op.output?.status === "ok") {
      const entries = op.output.entries.map((e) => ({
        lsn: e.lsn,
        payloadId: idOf(payloadKey(op.group, e.payload)),
      }));
      const { committedEnd, next } = op.output;
      timed.push({
        id: i,
        call: op.call,
        ret: op.ret ?? Number.POSITIVE_INFINITY,
        input: { type: "read", fromLsn: op.input.fromLsn },
        output: { entries, committedEnd, next },
      });
    }
  }
  return timed;
}
