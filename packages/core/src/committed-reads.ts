import { entriesOf, entryAt } from "./group-entry.ts";
import { EntryKind, type LogEntry } from "./log-entry.ts";
import type { ReplicaState } from "./replica-state.ts";
import type { Csn, Lsn } from "./types.ts";

/** Reads of committed entries only: nothing past the commit point ever leaves a replica as data. */

/** The CSN of the last committed entry (the base's when nothing above it is committed). */
export function committedCsn(r: ReplicaState): Csn {
  if (r.committedEnd <= r.log.base.lsn) return r.log.base.csn;
  return r.log.containing(r.committedEnd - 1)?.maxCsn ?? r.log.base.csn;
}

/** The committed entry starting at `lsn`; undefined if none starts there or it is not committed yet. */
export function readCommitted(r: ReplicaState, lsn: Lsn): LogEntry | undefined {
  if (lsn < r.log.base.lsn || lsn >= r.committedEnd) return undefined;
  const ge = r.log.containing(lsn);
  return ge ? entryAt(ge, lsn) : undefined;
}

/** Committed entries from `from` (an entry's LSN, or any LSN: starts at the first entry at or after it). */
export function* committedEntries(r: ReplicaState, from: Lsn, kinds: "data" | "all"): Generator<LogEntry> {
  let ge = from < r.log.base.lsn ? undefined : r.log.containing(from);
  if (from < r.log.base.lsn) throw new Error(`lsn ${from} is below the base ${r.log.base.lsn} (recycled)`);
  while (ge && ge.end <= r.committedEnd) {
    for (const e of entriesOf(ge)) {
      if (e.lsn >= from && (kinds === "all" || e.kind === EntryKind.data)) yield e;
    }
    ge = r.log.startingAt(ge.end);
  }
}

/** First committed entry whose CSN is at least `csn`. */
export function locateByCsn(r: ReplicaState, csn: Csn): LogEntry | undefined {
  const ge = r.log.firstWithCsnAtLeast(csn, r.committedEnd);
  if (!ge) return undefined;
  for (const e of committedEntries(r, ge.lsn, "all")) if (e.csn >= csn) return e;
  return undefined;
}
