import { GROUP_HEADER_BYTES, type GroupEntry, GroupFlag, sealGroupEntry } from "./group-entry.ts";
import { type EntryKind, encodedEntrySize, type SessionTag, writeEntry } from "./log-entry.ts";
import type { Csn, Lsn, Pid } from "./types.ts";

/**
 * The leader's group entry that appends are packed into until it is frozen. No buffer is kept while idle:
 * it is allocated on the first append and handed over (not copied) when frozen.
 */
export class OpenGroupEntry {
  private buf: Buffer;
  private len = 0;
  private countValue = 0;
  private maxCsnValue: Csn;
  private flags = 0;

  constructor(
    readonly lsn: Lsn,
    prevCsn: Csn,
    firstBytes: number,
  ) {
    // Sized from the caller's estimate (the previous group entry), so a busy leader rarely regrows.
    this.buf = Buffer.allocUnsafe(Math.max(4096, firstBytes));
    this.maxCsnValue = prevCsn;
  }

  get bytes(): number {
    return this.len;
  }
  get count(): number {
    return this.countValue;
  }
  get maxCsn(): Csn {
    return this.maxCsnValue;
  }
  /** LSN the next entry will get. */
  get nextLsn(): Lsn {
    return this.lsn + GROUP_HEADER_BYTES + this.len;
  }

  add(kind: EntryKind, csn: Csn, payload: Uint8Array, session: SessionTag | undefined): Lsn {
    const need = encodedEntrySize(payload.length, session !== undefined);
    if (this.len + need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + need));
      this.buf.copy(grown, 0, 0, this.len);
      this.buf = grown;
    }
    const lsn = this.nextLsn;
    this.len = writeEntry(this.buf, this.len, kind, csn, payload, session);
    this.countValue++;
    this.maxCsnValue = csn;
    if (session) this.flags |= GroupFlag.session;
    if (kind !== 0) this.flags |= GroupFlag.config;
    return lsn;
  }

  freeze(pid: Pid, committedEnd: Lsn, prevAccum: number): GroupEntry {
    // Hand the buffer over; copy only when most of it would be wasted memory held by the log.
    const body =
      this.len * 2 < this.buf.length
        ? Buffer.from(this.buf.subarray(0, this.len))
        : this.buf.subarray(0, this.len);
    return sealGroupEntry(
      {
        pid,
        lsn: this.lsn,
        count: this.countValue,
        maxCsn: this.maxCsnValue,
        flags: this.flags,
        committedEnd,
        body,
      },
      prevAccum,
    );
  }
}
