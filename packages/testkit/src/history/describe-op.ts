import { isAppend, type Operation, sessionText } from "./history.ts";

/** One op in a report line: index, client, what it did, what it got, and when. */
export function describeOp(ops: readonly Operation[], index: number): string {
  const op = ops[index];
  if (op === undefined) return `op #${index} (not in the history)`;
  const when = `t ${op.call}..${op.ret ?? "never"}`;
  if (isAppend(op)) {
    const out = op.output;
    let result = "no answer";
    if (out?.status === "committed") result = `committed lsn ${out.lsn} csn ${out.csn}`;
    else if (out !== undefined) result = out.status;
    return `op #${index} (client ${op.client}, append ${sessionText(op.input.session)} -> ${result}, ${when})`;
  }
  const kind = op.input.linearizable ? "linearizable read" : "read";
  const out = op.output;
  let result = "no answer";
  if (out?.status === "ok")
    result = `${out.entries.length} entries in [${op.input.fromLsn}, ${out.next}), committedEnd ${out.committedEnd}`;
  else if (out !== undefined) result = "error";
  return `op #${index} (client ${op.client}, ${kind} from ${op.input.fromLsn} -> ${result}, ${when})`;
}
