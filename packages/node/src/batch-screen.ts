import { type WalRecord, walRecordProblem } from "@palf/storage";

/**
 * Checks a turn's records before they go to the shard WAL as one batch. The WAL refuses a whole batch for
 * one bad record, and every group in it would leave service: here only the group whose record is bad is
 * taken out (its replica fails alone), and the other groups' records go on as usual.
 */
export function screenBatch(records: WalRecord[]): { records: WalRecord[]; bad: Map<number, string> } {
  let bad: Map<number, string> | undefined;
  for (const r of records) {
    const problem = walRecordProblem(r);
    if (problem === undefined) continue;
    bad ??= new Map();
    if (!bad.has(r.group)) bad.set(r.group, problem);
  }
  if (bad === undefined) return { records, bad: new Map() };
  const failed = bad;
  return { records: records.filter((r) => !failed.has(r.group)), bad: failed };
}
