import type { AppendId, EffectSink, GroupEntryResult } from "./effects.ts";
import type { GroupLog } from "./group-log.ts";
import type { LogEntry, SessionTag } from "./log-entry.ts";
import type { Csn, GroupId, Lsn, Pid } from "./types.ts";

/**
 * A retry of the append at `lsn`, whose entry is committed: {lsn, csn} if the entry there carries the retry's
 * session, undefined if that cannot be known (INDETERMINATE: replaced, or below the base).
 */
export function retryAnswer(
  lsn: Lsn,
  session: SessionTag,
  log: CommittedReader,
): { lsn: Lsn; csn: Csn } | undefined {
  const e = log.readCommitted(lsn);
  return e?.session && e.session.id === session.id && e.session.seq === session.seq
    ? { lsn, csn: e.csn }
    : undefined;
}

/** The committed entry at an LSN (undefined: none starts there, not committed, or below the base). */
export interface CommittedReader {
  readCommitted(lsn: Lsn): LogEntry | undefined;
}

interface Issued {
  readonly pid: Pid;
  readonly from: Lsn;
  readonly to: Lsn;
  readonly appends: AppendId[];
}

/** A retried append the log already holds above the commit point: answered once the commit point passes it. */
interface RetryWatch {
  readonly id: AppendId;
  readonly lsn: Lsn;
  readonly session: SessionTag;
}

/**
 * The one owner of append results. Every append the leader admits gets an id; the host waits on ids and
 * never compares LSN ranges. Each group entry this replica issued as leader gets exactly one explicit
 * result naming its appends: `committed` once the committed log holds that very entry (same LSN and pid),
 * `failed` once the committed log holds something else there, or an entry of a higher pid before it (pids
 * never decrease along a log, so the entry can never be committed). Truncation alone decides nothing.
 * Retries of appends the log already holds are watched here too and answered when the commit point passes.
 */
export class PendingResults {
  private queue: Issued[] = [];
  private head = 0;
  /** Ids of the appends in the open group entry, in order. */
  private open: AppendId[] = [];
  /** Watched retries; none on almost every replica, so made on the first. */
  private retries: RetryWatch[] | undefined;
  private nextId = 0;

  /** What an entry whose fate cannot be known here gets (`failed` only under UnsafeSwitches.unknownAsFailed). */
  private readonly unknown: "indeterminate" | "failed";

  constructor(
    private readonly group: GroupId,
    private readonly sink: EffectSink,
    unknownAsFailed = false,
  ) {
    this.unknown = unknownAsFailed ? "failed" : "indeterminate";
  }

  /** Issued group entries still without a result (watched retries are not counted: they decide no role). */
  get size(): number {
    return this.queue.length - this.head;
  }

  /** A new append went into the open group entry: its id. */
  admitted(): AppendId {
    const id = this.nextId++;
    this.open.push(id);
    return id;
  }

  /** A retry of the append at `lsn`, above the commit point: its id, answered by a RetryResult. */
  watchRetry(lsn: Lsn, session: SessionTag): AppendId {
    const id = this.nextId++;
    const watch = { id, lsn, session };
    if (this.retries) this.retries.push(watch);
    else this.retries = [watch];
    return id;
  }

  /** The open group entry [from, to) was frozen and issued under `pid`: its appends wait for its result. */
  issued(pid: Pid, from: Lsn, to: Lsn): void {
    this.queue.push({ pid, from, to, appends: this.open });
    this.open = [];
  }

  /** The open group entry [from, to) was dropped unpersisted: nobody else holds it, so it failed. */
  discardOpen(pid: Pid, from: Lsn, to: Lsn): void {
    const appends = this.open;
    if (appends.length === 0) return;
    this.open = [];
    this.emit("failed", { pid, from, to, appends });
  }

  /**
   * Resolves what the committed prefix of `log` (up to `committedEnd`) decides. Older entries are always
   * decided no later than newer ones, so it stops at the first undecided one. Then answers the watched
   * retries the commit point passed.
   */
  resolve(log: GroupLog, committedEnd: Lsn, reader: CommittedReader): void {
    if (this.head < this.queue.length) this.resolveIssued(log, committedEnd);
    if (this.retries !== undefined) this.resolveRetries(this.retries, committedEnd, reader);
  }

  private resolveIssued(log: GroupLog, committedEnd: Lsn): void {
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
      this.emit(outcome, it);
    }
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    }
  }

  private resolveRetries(retries: RetryWatch[], committedEnd: Lsn, reader: CommittedReader): void {
    const passed = retries.filter((w) => w.lsn < committedEnd);
    if (passed.length === 0) return;
    // Updated before any answer leaves, so a host that proposes from inside its callback loses no watch.
    const left = retries.filter((w) => w.lsn >= committedEnd);
    this.retries = left.length > 0 ? left : undefined;
    for (const w of passed) {
      const answer = retryAnswer(w.lsn, w.session, reader);
      this.sink.retryResult?.(
        answer
          ? { group: this.group, id: w.id, outcome: "committed", lsn: w.lsn, csn: answer.csn }
          : { group: this.group, id: w.id, outcome: "indeterminate", lsn: w.lsn, csn: 0 },
      );
    }
  }

  private emit(outcome: GroupEntryResult["outcome"], it: Issued): void {
    this.sink.result({
      group: this.group,
      outcome,
      pid: it.pid,
      from: it.from,
      to: it.to,
      appends: it.appends,
    });
  }

  /** Test-only (UnsafeSwitches.failOnTruncate): reports every issued entry at or above `lsn` failed at once. */
  failFrom(lsn: Lsn): void {
    let i = this.queue.length;
    while (i > this.head && this.queue[i - 1]!.from >= lsn) i--;
    for (const it of this.queue.splice(i)) this.emit("failed", it);
  }

  /** The replica left service: nothing it issued can be decided here any more. */
  abandon(): void {
    this.dropBelow(Number.POSITIVE_INFINITY);
  }

  /** A rebuild skipped part of the log: entries below the new base can no longer be compared. */
  dropBelow(base: Lsn): void {
    while (this.head < this.queue.length && this.queue[this.head]!.from < base) {
      this.emit(this.unknown, this.queue[this.head++]!);
    }
  }
}
