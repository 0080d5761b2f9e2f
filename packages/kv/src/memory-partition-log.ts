import type { PartitionEntry } from "./partition-state.ts";

/** Bytes of header counted per entry, so LSNs are byte offsets as in PALF. */
const ENTRY_HEADER_BYTES = 16;

/**
 * One PALF group's log kept in memory, for the store's tests and simulators: LSN = byte offset of the entry,
 * csn = max(refCsn, last csn + 1) (DESIGN.md section 1), and a CSN floor that a watermark round or a read
 * fence raises.
 */
export class MemoryPartitionLog {
  readonly entries: PartitionEntry[] = [];
  /** LSN the next entry gets (also the committed end: every entry is committed at once). */
  end = 0;
  lastCsn = 0;

  append(payload: Uint8Array, refCsn: number): { lsn: number; csn: number } {
    const csn = Math.max(refCsn, this.lastCsn + 1);
    const lsn = this.end;
    this.entries.push({ lsn, csn, payload });
    this.end += payload.length + ENTRY_HEADER_BYTES;
    this.lastCsn = csn;
    return { lsn, csn };
  }

  /** Entries appended from now on get CSNs above `w`. */
  raiseFloor(w: number): void {
    this.lastCsn = Math.max(this.lastCsn, w);
  }
}
