import type { EffectSink, GroupEntryResult } from "./effects.ts";
import type { GroupLog } from "./group-log.ts";
import type { GroupId, Lsn, Pid } from "./types.ts";

interface Issued {
  readonly pid: Pid;
  readonly from: Lsn;
  readonly to: Lsn;
}

/**
 * Group entries this replica issued as leader whose explicit result is not out yet. Each gets exactly one:
 * `committed` once the committed log holds that very entry (same LSN and pid), `failed` once the committed
 * log holds something else there, or an entry of a higher pid before it (pids never decrease along a log,
 * so the entry can never be committed). Truncation alone decides nothing.
 */
export class PendingResults {
  private queue: Issued[] = [];
  private head = 0;

  /** What an entry whose fate cannot be known here gets (`failed` only under UnsafeSwitches.unknownAsFailed). */
  private readonly unknown: "indeterminate" | "failed";

  constructor(
    private readonly group: GroupId,
    private readonly sink: EffectSink,
    unknownAsFailed = false,
  ) {
    this.unknown = unknownAsFailed ? "failed" : "indeterminate";
  }

  get size(): number {
    return this.queue.length - this.head;
  }

  issued(pid: Pid, from: Lsn, to: Lsn): void {
    this.queue.push({ pid, from, to });
  }

  /**
   * Resolves what the committed prefix of `log` (up to `committedEnd`) decides. Older entries are always
   * decided no later than newer ones, so it stops at the first undecided one.
   */
  resolve(log: GroupLog, committedEnd: Lsn): void {
    if (this.head === this.queue.length) return;
    const lastCommittedPid = committedEnd > log.base.lsn ? log.pidEndingAt(committedEnd) : log.base.pid;
    while (this.head < this.queue.length) {
      const it = this.queue[this.head]!;
      let outcome: GroupEntryResult["outcome"];
      if (committedEnd > it.from) {
        if (it.from < log.base.lsn) outcome = this.unknown;
        else {
          const ge = log.startingAt(it.from);
          outcome = ge && ge.pid === it.pid && ge.end === it.to ? "committed" : "failed";
        }
      } else if (lastCommittedPid !== undefined && lastCommittedPid > it.pid) {
        outcome = "failed";
      } else break;
      this.head++;
      this.sink.result({ group: this.group, outcome, pid: it.pid, from: it.from, to: it.to });
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
  }

  /** Test-only (UnsafeSwitches.failOnTruncate): reports every issued entry at or above `lsn` failed at once. */
  failFrom(lsn: Lsn): void {
    let i = this.queue.length;
    while (i > this.head && this.queue[i - 1]!.from >= lsn) i--;
    for (const it of this.queue.splice(i)) {
      this.sink.result({ group: this.group, outcome: "failed", pid: it.pid, from: it.from, to: it.to });
    }
  }

  /** The replica left service: nothing it issued can be decided here any more. */
  abandon(): void {
    this.dropBelow(Number.POSITIVE_INFINITY);
  }

  /** A rebuild skipped part of the log: entries below the new base can no longer be compared. */
  dropBelow(base: Lsn): void {
    while (this.head < this.queue.length && this.queue[this.head]!.from < base) {
      const it = this.queue[this.head++]!;
      this.sink.result({
        group: this.group,
        outcome: this.unknown,
        pid: it.pid,
        from: it.from,
        to: it.to,
      });
    }
  }
}
