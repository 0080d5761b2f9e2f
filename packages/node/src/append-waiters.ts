import type { GroupEntryResult, Replica } from "@palf/core";
import type { AppendOutcomeWire, RpcError } from "@palf/transport";

/**
 * The answers to one append request, item by item: one promise for the request, settled once every item
 * has its answer. An item's first answer counts; a later one is ignored.
 */
export class RequestAnswers {
  readonly all: Promise<AppendOutcomeWire[]>;
  private readonly results: Array<AppendOutcomeWire | undefined>;
  private left: number;
  private done!: (results: AppendOutcomeWire[]) => void;

  constructor(items: number) {
    this.results = new Array<AppendOutcomeWire | undefined>(items);
    this.left = items;
    this.all = new Promise((resolve) => {
      this.done = resolve;
    });
    if (items === 0) this.done([]);
  }

  answer(index: number, outcome: AppendOutcomeWire): void {
    if (this.results[index] !== undefined) return;
    this.results[index] = outcome;
    if (--this.left === 0) this.done(this.results as AppendOutcomeWire[]);
  }
}

/** A client append the leader took: answered once its group entry has its explicit result. */
export interface AppendWaiter {
  /** The leadership (proposal id) that took it: a result settles only its own leadership's appends. */
  readonly pid: number;
  readonly lsn: number;
  readonly csn: number;
  /** Where its answer goes: item `index` of its request. */
  readonly answers: RequestAnswers;
  readonly index: number;
}

function answer(w: AppendWaiter, outcome: AppendOutcomeWire): void {
  w.answers.answer(w.index, outcome);
}

/** A retried append the log already holds (same session): answered once the commit point passes it. */
interface RetryWatcher extends AppendWaiter {
  readonly session: { readonly id: number; readonly seq: number };
}

/** What a group entry's explicit result tells each of its appends (undefined: committed, answer {lsn, csn}). */
function outcomeError(r: GroupEntryResult): AppendOutcomeWire | undefined {
  if (r.outcome === "failed")
    return {
      error: { code: "FAILED", message: "not committed: a new leader's log holds something else there" },
    };
  if (r.outcome === "indeterminate")
    return { error: { code: "INDETERMINATE", message: "result unknown (replica rebuilt); read the log" } };
  return undefined;
}

/**
 * One group's client appends waiting for their answer. The core tracks issued group entries (PendingResults
 * ranges); this only maps a result's LSN range back to the appends in it. Results mostly come in issue
 * order, so a result settles a prefix (a head index: no scan, no splice); one that does not match the front
 * (the discarded open entry of a leader stepping down comes before its issued entries' results) is looked
 * for in the rest.
 */
export class AppendWaiters {
  private queue: AppendWaiter[] = [];
  private head = 0;
  private watchers: RetryWatcher[] = [];

  get size(): number {
    return this.queue.length - this.head + this.watchers.length;
  }

  add(w: AppendWaiter): void {
    this.queue.push(w);
  }

  /** Settles the appends inside the result's range; returns how many were answered committed. */
  settle(r: GroupEntryResult): number {
    const error = outcomeError(r);
    const inRange = (w: AppendWaiter) => w.pid === r.pid && w.lsn >= r.from && w.lsn < r.to;
    const settle = (w: AppendWaiter) => answer(w, error ?? { lsn: w.lsn, csn: w.csn });
    const q = this.queue;
    const first = this.head;
    while (this.head < q.length && inRange(q[this.head]!)) settle(q[this.head++]!);
    let settled = this.head - first;
    if (settled === 0 && this.head < q.length) {
      const rest: AppendWaiter[] = [];
      for (let i = this.head; i < q.length; i++) {
        const w = q[i]!;
        if (inRange(w)) {
          settle(w);
          settled++;
        } else rest.push(w);
      }
      this.queue = rest;
      this.head = 0;
    } else if (this.head === q.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= 64 && this.head * 2 >= q.length) {
      this.queue = q.slice(this.head);
      this.head = 0;
    }
    return error ? 0 : settled;
  }

  watch(w: AppendWaiter, session: { readonly id: number; readonly seq: number }): void {
    this.watchers.push({ ...w, session });
  }

  get watching(): boolean {
    return this.watchers.length > 0;
  }

  /** Answers the retried appends the commit point passed: committed if the entry at its LSN carries its session. */
  checkWatchers(r: Replica): void {
    if (this.watchers.length === 0) return;
    this.watchers = this.watchers.filter((w) => {
      if (w.lsn >= r.committedEnd) return true;
      const e = r.read(w.lsn);
      if (e?.session && e.session.id === w.session.id && e.session.seq === w.session.seq)
        answer(w, { lsn: w.lsn, csn: e.csn });
      else answer(w, { error: { code: "INDETERMINATE", message: "retried append: read the log to know" } });
      return false;
    });
  }

  /** Answers everything still waiting with `error` (group deleted, node stopping). */
  failAll(error: RpcError): void {
    const q = this.queue;
    for (let i = this.head; i < q.length; i++) answer(q[i]!, { error });
    for (const w of this.watchers) answer(w, { error });
    this.queue = [];
    this.head = 0;
    this.watchers = [];
  }
}
