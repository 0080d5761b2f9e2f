/**
 * A reader's view of one group: how far it has read, what it has delivered, and its watermark. A vouched
 * (w, lsn) is trusted only once everything below lsn has been read: then no entry with CSN <= w can still
 * come. The highest trusted w counts; untrusted ones wait, sorted by lsn.
 */
export class GroupCursor {
  /** Next LSN to read. */
  next: number;
  /** Next LSN not yet delivered (the checkpoint position). */
  delivered: number;
  /** Highest trusted watermark (-1: none yet, which holds the frontier). */
  w = -1;
  /** Highest lsn any batch vouched at: reading goes at least this far. */
  target = 0;
  reading = false;
  /** Entries read but not yet delivered. */
  buffered = 0;
  /** When a batch last named this group (for spotting deleted groups). */
  lastNamedAt = 0;
  /** The node whose batch last vouched for it (its leader then): reads go there first. */
  leader: string | undefined;
  private pending: Array<{ w: number; lsn: number }> = [];

  constructor(
    readonly group: number,
    from: number,
  ) {
    this.next = from;
    this.delivered = from;
  }

  vouch(w: number, lsn: number): void {
    if (w <= this.w) return;
    if (lsn > this.target) this.target = lsn;
    if (lsn <= this.next) {
      this.w = w;
      return;
    }
    this.pending.push({ w, lsn });
    this.pending.sort((a, b) => a.lsn - b.lsn);
  }

  /** Reading reached `next`: trust what it covers. */
  advance(next: number): void {
    this.next = Math.max(this.next, next);
    while (this.pending.length > 0 && this.pending[0]!.lsn <= this.next) {
      const p = this.pending.shift()!;
      if (p.w > this.w) this.w = p.w;
    }
  }
}
