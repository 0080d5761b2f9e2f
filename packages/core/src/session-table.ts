import type { SessionTag } from "./log-entry.ts";
import type { Csn, Lsn } from "./types.ts";

interface Known {
  seq: number;
  lsn: Lsn;
  csn: Csn;
}

/**
 * Last (seq, lsn, csn) per client session, rebuilt from the log on every replica, so a leader and its
 * successor both recognise a retried append. Bounded: the oldest sessions are forgotten first.
 */
export class SessionTable {
  private readonly known = new Map<number, Known>();

  constructor(private readonly maxSessions: number) {}

  get(id: number): Known | undefined {
    return this.known.get(id);
  }

  record(session: SessionTag, lsn: Lsn, csn: Csn): void {
    const k = this.known.get(session.id);
    if (k && k.seq >= session.seq) return;
    this.known.delete(session.id);
    this.known.set(session.id, { seq: session.seq, lsn, csn });
    if (this.known.size > this.maxSessions) this.known.delete(this.known.keys().next().value as number);
  }

  /** Entries at or above `lsn` were truncated: forget what pointed at them. */
  truncate(lsn: Lsn): void {
    for (const [id, k] of this.known) if (k.lsn >= lsn) this.known.delete(id);
  }
}
