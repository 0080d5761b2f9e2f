/**
 * The store simulator's end-of-seed checks that are not history checkers: the transaction-CDC order check,
 * every lock resolved after healing, and replay equality (a replica's state, recovered from a checkpoint or
 * not, is what a fresh replay of the log to the same point gives).
 */
import { createHash } from "node:crypto";
import { type KvValue, type PartitionEntry, PartitionState, type TxnChange } from "@palf/kv";
import { type AckedCommit, accountKey, BANK_ACCOUNTS, BANK_INITIAL } from "./store-workload.ts";

/** A fresh replay of a partition's log up to (not including) `toLsn`. */
export function replay(partition: number, entries: readonly PartitionEntry[], toLsn: number): PartitionState {
  const s = new PartitionState(partition);
  for (const e of entries) {
    if (e.lsn >= toLsn) break;
    s.apply(e);
  }
  return s;
}

/** What two replicas at one point of the log must agree on: the serialized state and the locks it implies. */
export function fingerprint(s: PartitionState): string {
  const h = createHash("sha256").update(s.checkpoint());
  const undecided = [...s.undecided()].map((t) => t.txnId).sort();
  return `${h.digest("hex").slice(0, 16)} next ${s.next} locks ${s.lockCount} undecided ${undecided.join(",")}`;
}

/** Every prepared, undecided transaction left in the logs after healing (a lock nobody resolved). */
export function unresolvedLocks(
  groups: readonly number[],
  entriesOf: (group: number) => readonly PartitionEntry[],
): string[] {
  const out: string[] = [];
  groups.forEach((g, p) => {
    const s = replay(p, entriesOf(g), Number.POSITIVE_INFINITY);
    for (const t of s.undecided())
      out.push(
        `locks: ${t.txnId} still holds a lock on partition ${p} after healing (prepared at ${t.prepareVersion}, primary ${t.primary})`,
      );
  });
  return out;
}

/**
 * The change stream against what clients were told: strictly increasing (commit version, txn id), nothing
 * twice, every acknowledged commit delivered whole at its version, and a copy built from the stream keeps
 * the bank's total after every transaction and ends equal to the final state.
 */
export function checkTxnCdc(
  delivered: readonly TxnChange[],
  acked: ReadonlyMap<string, AckedCommit>,
  finalState: ReadonlyMap<string, KvValue | null>,
): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  const copy = new Map<string, KvValue | null>();
  let prev: TxnChange | undefined;
  for (const t of delivered) {
    if (seen.has(t.txnId)) out.push(`cdc: ${t.txnId} delivered twice`);
    seen.add(t.txnId);
    if (
      prev !== undefined &&
      (t.commitVersion < prev.commitVersion ||
        (t.commitVersion === prev.commitVersion && t.txnId <= prev.txnId))
    )
      out.push(
        `cdc: ${t.txnId} at ${t.commitVersion} delivered after ${prev.txnId} at ${prev.commitVersion} (out of commit-version order)`,
      );
    prev = t;
    const a = acked.get(t.txnId);
    if (a !== undefined) {
      if (a.commitVersion !== t.commitVersion)
        out.push(`cdc: ${t.txnId} delivered at ${t.commitVersion}, acknowledged at ${a.commitVersion}`);
      const got = new Map(t.writes.map((w) => [w.key, w.value]));
      const same = got.size === a.writes.size && [...a.writes].every(([k, v]) => got.get(k) === v);
      if (!same)
        out.push(
          `cdc: ${t.txnId} delivered ${JSON.stringify([...got])}, not its whole writes ${JSON.stringify([...a.writes])}`,
        );
    }
    for (const w of t.writes) copy.set(w.key, w.value);
    if (t.writes.some((w) => w.key.startsWith("acct-")) && copy.has(accountKey(0))) {
      let sum = 0;
      for (let i = 0; i < BANK_ACCOUNTS; i++) sum += Number(copy.get(accountKey(i)) ?? 0);
      if (sum !== BANK_ACCOUNTS * BANK_INITIAL)
        out.push(`cdc: the copy's bank total is ${sum} after ${t.txnId} at ${t.commitVersion}`);
    }
  }
  for (const [id, a] of acked)
    if (!seen.has(id))
      out.push(`cdc: acknowledged ${id} (commit version ${a.commitVersion}) was never delivered`);
  for (const [k, v] of finalState)
    if ((copy.get(k) ?? null) !== v)
      out.push(`cdc: the copy has ${k} = ${String(copy.get(k))}, the store ${String(v)}`);
  return out.slice(0, 20);
}
