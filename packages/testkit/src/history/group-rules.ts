import type { AppendedPayload, AppendIndex } from "./append-index.ts";
import { describeOp } from "./describe-op.ts";
import { isAppend, type Operation, type ReadOp, sessionText } from "./history.ts";
import { ObservedLog, type Sighting } from "./observed-log.ts";
import type { ViolationList } from "./violation-list.ts";

/** What the rules learned about one group, for the summary and for resolving uncertain appends. */
export interface GroupFindings {
  readonly log: ObservedLog;
  /** Every LSN each appended payload was seen committed at (more than one is a violation). */
  readonly lsnsOf: ReadonlyMap<AppendedPayload, readonly number[]>;
}

/**
 * The history rules for one group that need no search: every claim about an LSN agrees, reads are
 * well-formed and complete over their range, CSN grows with LSN, a session commits once, a failed append
 * is never seen, and reads show only bytes that some client had already started to append.
 */
export function checkGroupRules(
  ops: readonly Operation[],
  group: number,
  indices: readonly number[],
  index: AppendIndex,
  out: ViolationList,
): GroupFindings {
  const log = new ObservedLog();
  const d = (i: number) => describeOp(ops, i);
  const claim = (lsn: number, s: Sighting) => {
    const earlier = log.observe(lsn, s);
    if (earlier !== undefined)
      out.add(
        `group ${group} lsn ${lsn} holds two different entries: ${sightingText(earlier)} by ${d(earlier.op)}; ` +
          `${sightingText(s)} by ${d(s.op)}`,
      );
  };

  const reads: number[] = [];
  for (const i of indices) {
    const op = ops[i]!;
    if (isAppend(op)) {
      if (op.output?.status === "committed") {
        const appended = index.lookup(group, op.input.payload);
        claim(op.output.lsn, {
          op: i,
          csn: op.output.csn,
          key: appended?.key ?? keyOfUnknown(op.input.payload),
          appended,
        });
      }
    } else if (op.output?.status === "ok") reads.push(i);
  }
  for (const i of reads) checkReadEntries(ops, i, index, out, claim);
  for (const i of reads) checkReadCoverage(ops, i, log, out);
  checkCsnOrder(ops, group, log, out);
  const lsnsOf = sessionLsns(log);
  for (const [appended, lsns] of lsnsOf) {
    const seenBy = lsns.map(
      (l) => `lsn ${l} (${d(log.claimsAt(l).find((c) => c.appended === appended)!.op)})`,
    );
    if (lsns.length > 1)
      out.add(
        `group ${group}: session ${sessionText(appended.session)} committed twice: ${seenBy.join(" and ")}`,
      );
    const allFailed = appended.attempts.every((a) => {
      const op = ops[a]!;
      return isAppend(op) && op.output?.status === "failed";
    });
    if (allFailed)
      out.add(
        `group ${group} lsn ${lsns[0]}: ${d(appended.attempts[0]!)} failed, yet it is committed at ${seenBy[0]}`,
      );
  }
  return { log, lsnsOf };
}

/** Shape, provenance and causality of each entry a read returned; every entry becomes a claim. */
function checkReadEntries(
  ops: readonly Operation[],
  i: number,
  index: AppendIndex,
  out: ViolationList,
  claim: (lsn: number, s: Sighting) => void,
): void {
  const op = ops[i] as ReadOp;
  if (op.output?.status !== "ok") return;
  const { entries, next, committedEnd } = op.output;
  const from = op.input.fromLsn;
  const where = `group ${op.group}: ${describeOp(ops, i)}`;
  // A range is complete only up to what the replica had committed; anything past that is a made-up claim.
  if (next > Math.max(from, committedEnd)) out.add(`${where} claims next ${next} beyond its committed end`);
  let previous = -1;
  for (const e of entries) {
    if (e.lsn < from || e.lsn >= next || e.lsn <= previous)
      out.add(`${where} returned lsn ${e.lsn} out of order or outside [${from}, ${next})`);
    previous = e.lsn;
    const appended = index.lookup(op.group, e.payload);
    if (appended === undefined) out.add(`${where} returned at lsn ${e.lsn} bytes no client appended to it`);
    else if (op.ret! < appended.firstCall)
      out.add(
        `${where} returned at lsn ${e.lsn} the entry of ${describeOp(ops, appended.attempts[0]!)}, ` +
          `which was called only after the read returned`,
      );
    claim(e.lsn, { op: i, csn: e.csn, key: appended?.key ?? keyOfUnknown(e.payload), appended });
  }
}

/**
 * A read's range [fromLsn, next) was all committed at the serving replica, and committed entries never
 * change, so the read must show every entry anyone saw committed in that range, whenever it ran.
 */
function checkReadCoverage(ops: readonly Operation[], i: number, log: ObservedLog, out: ViolationList): void {
  const op = ops[i] as ReadOp;
  if (op.output?.status !== "ok") return;
  const entries = op.output.entries;
  let k = 0;
  for (const lsn of log.lsnsIn(op.input.fromLsn, op.output.next)) {
    while (k < entries.length && entries[k]!.lsn < lsn) k++;
    if (entries[k]?.lsn === lsn) continue;
    const known = log.at(lsn)!;
    out.add(
      `group ${op.group} lsn ${lsn}: ${describeOp(ops, i)} covered lsn ${lsn} but did not return the entry ` +
        `committed there (${sightingText(known)}, seen by ${describeOp(ops, known.op)})`,
    );
  }
}

function checkCsnOrder(ops: readonly Operation[], group: number, log: ObservedLog, out: ViolationList): void {
  let previousLsn: number | undefined;
  for (const lsn of log.lsns()) {
    if (previousLsn !== undefined) {
      const before = log.at(previousLsn)!;
      const here = log.at(lsn)!;
      if (here.csn <= before.csn)
        out.add(
          `group ${group} lsn ${lsn}: csn ${here.csn} (${describeOp(ops, here.op)}) is not above csn ` +
            `${before.csn} at lower lsn ${previousLsn} (${describeOp(ops, before.op)})`,
        );
    }
    previousLsn = lsn;
  }
}

function sessionLsns(log: ObservedLog): Map<AppendedPayload, number[]> {
  const lsnsOf = new Map<AppendedPayload, number[]>();
  for (const lsn of log.lsns())
    for (const c of log.claimsAt(lsn)) {
      if (c.appended === undefined) continue;
      const list = lsnsOf.get(c.appended) ?? [];
      if (!list.includes(lsn)) list.push(lsn);
      lsnsOf.set(c.appended, list);
    }
  return lsnsOf;
}

function sightingText(s: Sighting): string {
  const who =
    s.appended === undefined ? "bytes no client appended" : `session ${sessionText(s.appended.session)}`;
  return `${who}, csn ${s.csn}`;
}

function keyOfUnknown(payload: Uint8Array): string {
  return `?${Buffer.from(payload).toString("hex")}`;
}
