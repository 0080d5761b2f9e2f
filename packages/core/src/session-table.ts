import type { SessionTag } from "./log-entry.ts";
import type { Csn, Lsn } from "./types.ts";

interface Known {
  readonly lsn: Lsn;
  readonly csn: Csn;
}

interface Session {
  /** Recent appends of the session by seq (a client may have many in flight, and seqs may have gaps). */
  readonly bySeq: Map<number, Known>;
  /** Seqs in the order they were recorded, oldest at `head` (a Map's first key is slow after many deletes). */
  order: number[];
  head: number;
  /** Seqs below this were forgotten: a retry of one cannot be told apart from a new append. */
  floor: number;
}

/** What a leader knows about one (session, seq). */
export type SessionLookup =
  | { readonly kind: "new" }
  | { readonly kind: "duplicate"; readonly lsn: Lsn; readonly csn: Csn }
  | { readonly kind: "forgotten" };

/**
 * Recent appends per client session, rebuilt from the log on every replica, so a leader and its successor
 * both recognise a retried append. Each session keeps a window of its latest seqs; the oldest sessions are
 * forgotten first.
 */
export class SessionTable {
  private readonly sessions = new Map<number, Session>();
  private lastTouched = -1;
  /** A whole session was dropped (too many sessions): its retries can no longer be recognised. */
  private evicted = false;

  constructor(
    private readonly maxSessions: number,
    private readonly window = 256,
  ) {}

  /**
   * `retry`: the client resends after an attempt whose outcome it does not know. `complete`: the log this
   * table was rebuilt from starts at the group's creation (nothing recycled). A retry that is not found in
   * an incomplete table may have committed below the base (or in an evicted session), so it is reported
   * forgotten (INDETERMINATE) rather than appended a second time.
   */
  lookup(tag: SessionTag, retry = false, complete = true): SessionLookup {
    const s = this.sessions.get(tag.id);
    const k = s?.bySeq.get(tag.seq);
    if (k) return { kind: "duplicate", lsn: k.lsn, csn: k.csn };
    if (s && tag.seq < s.floor) return { kind: "forgotten" };
    if (retry && (!complete || (this.evicted && !s))) return { kind: "forgotten" };
    return { kind: "new" };
  }

  record(tag: SessionTag, lsn: Lsn, csn: Csn): void {
    let s = this.sessions.get(tag.id);
    if (!s) {
      s = { bySeq: new Map(), order: [], head: 0, floor: 0 };
      this.sessions.set(tag.id, s);
    } else if (this.sessions.size > 1 && this.lastTouched !== tag.id) {
      // Move to the back (most recent) so the oldest sessions are the ones forgotten.
      this.sessions.delete(tag.id);
      this.sessions.set(tag.id, s);
    }
    this.lastTouched = tag.id;
    if (tag.seq < s.floor || s.bySeq.has(tag.seq)) return;
    s.bySeq.set(tag.seq, { lsn, csn });
    s.order.push(tag.seq);
    while (s.bySeq.size > this.window && s.head < s.order.length) {
      // Forget the oldest recorded seq (seqs mostly arrive in order); anything below it now reads as
      // forgotten (INDETERMINATE), never as new, so a late retry can not be appended twice.
      const oldest = s.order[s.head++]!;
      if (!s.bySeq.delete(oldest)) continue;
      s.floor = Math.max(s.floor, oldest + 1);
    }
    if (s.head > 1024) {
      s.order = s.order.slice(s.head);
      s.head = 0;
    }
    if (this.sessions.size > this.maxSessions) {
      this.sessions.delete(this.sessions.keys().next().value as number);
      this.evicted = true;
    }
  }

  /** Entries at or above `lsn` were truncated: forget what pointed at them. */
  truncate(lsn: Lsn): void {
    for (const s of this.sessions.values()) {
      for (const [seq, k] of s.bySeq) if (k.lsn >= lsn) s.bySeq.delete(seq);
    }
  }
}
