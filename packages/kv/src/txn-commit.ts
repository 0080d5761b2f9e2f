import { appendFailed } from "./kv-cluster.ts";
import { KvError } from "./kv-error.ts";
import type { KvValue } from "./kv-limits.ts";
import { encodeRecord, type KvWrite } from "./kv-record.ts";
import type { KvService, LoggedOutcome } from "./kv-service.ts";
import { kvUnsafeOn } from "./kv-unsafe.ts";
import type { TxnView } from "./partition-state.ts";

/** What a commit needs: the servers that append records and answer their outcomes. */
export interface CommitContext {
  readonly service: KvService;
  /** The runtime's clock, for the phase timings only. */
  readonly now: () => number;
  /** Test hook: runs once every prepare of a multi-partition transaction succeeded, before the decision. */
  readonly afterPrepare?: ((txnId: string) => Promise<void> | void) | undefined;
}

/** A transaction's writes, split by partition. */
export type WritesByPartition = ReadonlyMap<number, readonly KvWrite[]>;

/** Counters of the commit path (appends per transaction is the figure that matters). */
export const commitStats = {
  appends: 0,
  onePhase: 0,
  twoPhase: 0,
  /** Time spent in each commit phase, summed over transactions (ms). */
  prepareMs: 0,
  outcomeMs: 0,
  decideMs: 0,
};

/**
 * Commits a transaction's writes (2PC after DESIGN.md section 5) and resolves with its commit version once
 * the primary's first decision is a commit; the caller does the commit wait. Every record goes through the
 * service's appendOutcome, which answers the record's outcome with the append (one round trip). One
 * partition: a single prepare is the decision (one append). Several: prepares in parallel, commit version =
 * the largest prepare version, a commit record to the primary (the decision, if it is the first there),
 * then commit records to the other participants, not awaited (resolution repairs their loss).
 * `refCsn` (> snapshot) is the prepares' refCsn: every prepare version is at least it, so above the snapshot.
 * snapshot + 1 is enough (no GTS round trip): the read fence, not refCsn, keeps a prepare from landing at or
 * below a snapshot that was already read; the groups' CSN floors keep prepare versions near GTS time.
 * Throws CONFLICT or ABORTED (the transaction will never commit; retrying is safe) or INDETERMINATE.
 */
export async function commitWrites(
  c: CommitContext,
  txnId: string,
  snapshot: number,
  writes: WritesByPartition,
  refCsn = snapshot + 1,
): Promise<number> {
  if (refCsn <= snapshot)
    throw new KvError("BAD_REQUEST", `refCsn ${refCsn} is not above snapshot ${snapshot}`);
  const participants = [...writes.keys()].sort((a, b) => a - b);
  const primary = participants[0]!;
  const prepareOf = (p: number) =>
    encodeRecord({ type: "prepare", txnId, snapshot, writes: writes.get(p)!, primary, participants });
  const append = (p: number, payload: Uint8Array, ref: number) => {
    commitStats.appends++;
    return c.service.appendOutcome(p, payload, ref, txnId);
  };

  if (participants.length === 1) {
    commitStats.onePhase++;
    let o: LoggedOutcome;
    try {
      o = await append(primary, prepareOf(primary), refCsn);
    } catch (err) {
      if (appendFailed(err))
        throw new KvError("ABORTED", `prepare of ${txnId} failed: ${(err as Error).message}`, { txnId });
      return settleUnknown(c, txnId, primary, err);
    }
    return decided(txnId, o.txn);
  }

  commitStats.twoPhase++;
  let t = c.now();
  const prepared = await Promise.allSettled(participants.map((p) => append(p, prepareOf(p), refCsn)));
  commitStats.prepareMs += c.now() - t;
  t = c.now();
  const failed = prepared.find((r) => r.status === "rejected");
  if (failed !== undefined) {
    // A prepare that failed, or whose outcome is unknown: we never append a commit for the transaction, so
    // it can only abort; the abort frees the locks sooner.
    abortEverywhere(c, txnId, participants);
    throw new KvError(
      "ABORTED",
      `a prepare of ${txnId} did not commit or its outcome is unknown: ${String((failed as PromiseRejectedResult).reason)}`,
      { txnId },
    );
  }
  // The outcomes come with the appends: each server applied its partition's log up to the prepare.
  const outcomes = prepared.map((r) => (r as PromiseFulfilledResult<LoggedOutcome>).value);
  const views = kvUnsafeOn("conflictsDecidedAheadOfLog")
    ? outcomes.map((o) => assumePrepared(txnId, o.csn))
    : outcomes.map((o) => o.txn);
  const refused = views.find((v) => v?.state !== "prepared");
  if (refused !== undefined) {
    abortEverywhere(c, txnId, participants);
    throw refusal(txnId, refused);
  }
  // OceanBase's rule: the commit version is at least every participant's prepare version.
  await c.afterPrepare?.(txnId);
  const versions = views.map((v) => v!.prepareVersion!);
  const commitVersion = kvUnsafeOn("commitAtMinPrepare") ? Math.min(...versions) : Math.max(...versions);
  let o: LoggedOutcome;
  try {
    o = await append(primary, encodeRecord({ type: "commit", txnId, commitVersion }), commitVersion);
  } catch (err) {
    if (appendFailed(err)) {
      abortEverywhere(c, txnId, participants);
      throw new KvError("ABORTED", `the commit record of ${txnId} failed`, { txnId });
    }
    return settleUnknown(c, txnId, primary, err);
  }
  const version = decided(txnId, o.txn);
  commitStats.decideMs += c.now() - t;
  // refCsn = commit version: the record's CSN is >= it, so any later prepare on that partition (and so any
  // later commit version of its keys) is above this one.
  for (const p of participants)
    if (p !== primary)
      void append(p, encodeRecord({ type: "commit", txnId, commitVersion: version }), version).catch(
        () => undefined,
      );
  return version;
}

/** What the unsafe coordinator assumes of a prepare it did not read back (conflictsDecidedAheadOfLog). */
function assumePrepared(txnId: string, csn: number): TxnView {
  return {
    txnId,
    state: "prepared",
    prepareVersion: csn,
    snapshot: undefined,
    primary: undefined,
    participants: undefined,
    commitVersion: undefined,
    reason: undefined,
    at: csn,
  };
}

function decided(txnId: string, t: TxnView | undefined): number {
  if (t?.state === "committed") return t.commitVersion!;
  throw refusal(txnId, t);
}

function refusal(txnId: string, t: TxnView | undefined): KvError {
  if (t?.reason === "conflict")
    return new KvError("CONFLICT", `${txnId}: a key was written by another transaction first`, { txnId });
  return new KvError("ABORTED", `${txnId} was aborted (${t?.reason ?? t?.state ?? "unknown"})`, { txnId });
}

/**
 * The result of our decision append is unknown: append an abort to the primary. Whichever record is first in
 * its log is the decision, so reading the primary after the abort tells the outcome for sure.
 */
async function settleUnknown(
  c: CommitContext,
  txnId: string,
  primary: number,
  cause: unknown,
): Promise<number> {
  try {
    commitStats.appends++;
    const o = await c.service.appendOutcome(primary, encodeRecord({ type: "abort", txnId }), 0, txnId);
    return decided(txnId, o.txn);
  } catch (err) {
    if (err instanceof KvError && (err.code === "ABORTED" || err.code === "CONFLICT")) throw err;
    throw new KvError(
      "INDETERMINATE",
      `the outcome of ${txnId} is unknown: ${(cause as Error)?.message ?? String(cause)}`,
      {
        txnId,
      },
    );
  }
}

function abortEverywhere(c: CommitContext, txnId: string, participants: readonly number[]): void {
  const rec = encodeRecord({ type: "abort", txnId });
  for (const p of participants) {
    commitStats.appends++;
    void c.service.appendOutcome(p, rec, 0, txnId).catch(() => undefined);
  }
}

/** Groups writes by partition, in key order within each. */
export function splitWrites(
  writes: ReadonlyMap<string, KvValue | null>,
  partitionOf: (key: string) => number,
): Map<number, KvWrite[]> {
  const out = new Map<number, KvWrite[]>();
  for (const key of [...writes.keys()].sort()) {
    const p = partitionOf(key);
    let ws = out.get(p);
    if (ws === undefined) {
      ws = [];
      out.set(p, ws);
    }
    ws.push({ key, value: writes.get(key)! });
  }
  return out;
}
