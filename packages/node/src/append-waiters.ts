import type { AppendId, GroupEntryResult, RetryResult } from "@palf/core";
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

/** A client append the leader took: answered once the core names its id in a result. */
export interface AppendWaiter {
  readonly lsn: number;
  readonly csn: number;
  /** Where its answer goes: item `index` of its request. */
  readonly answers: RequestAnswers;
  readonly index: number;
}

function answer(w: AppendWaiter, outcome: AppendOutcomeWire): void {
  w.answers.answer(w.index, outcome);
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
 * One group's client appends waiting for their answer, by append id. The core owns the results
 * (PendingResults names the ids each result settles); this only maps an id to its reply: ids increase, so
 * the waiters sit in an array indexed by id (a head index drops the answered front; no search, no scan).
 */
export class AppendWaiters {
  private slots: Array<AppendWaiter | undefined> = [];
  /** The id of slots[0]. */
  private firstId = 0;
  /** Slots below it are answered. */
  private head = 0;
  private waiting = 0;

  get size(): number {
    return this.waiting;
  }

  add(id: AppendId, w: AppendWaiter): void {
    if (this.waiting === 0) {
      this.slots = [];
      this.firstId = id;
      this.head = 0;
    }
    const at = id - this.firstId;
    if (at < this.slots.length) throw new Error(`append id ${id} is not new`);
    // Ids the host never waits on (none today) leave empty slots.
    while (this.slots.length < at) this.slots.push(undefined);
    this.slots.push(w);
    this.waiting++;
  }

  /** Answers the appends a group entry's result names; returns how many were answered committed. */
  settle(r: GroupEntryResult): number {
    const error = outcomeError(r);
    let settled = 0;
    for (const id of r.appends) {
      const w = this.take(id);
      if (!w) continue;
      answer(w, error ?? { lsn: w.lsn, csn: w.csn });
      settled++;
    }
    return error ? 0 : settled;
  }

  /** Answers a retried append the log already held. */
  settleRetry(r: RetryResult): void {
    const w = this.take(r.id);
    if (!w) return;
    if (r.outcome === "committed") answer(w, { lsn: r.lsn, csn: r.csn });
    else answer(w, { error: { code: "INDETERMINATE", message: "retried append: read the log to know" } });
  }

  private take(id: AppendId): AppendWaiter | undefined {
    const at = id - this.firstId;
    if (at < this.head || at >= this.slots.length) return undefined;
    const w = this.slots[at];
    if (!w) return undefined;
    this.slots[at] = undefined;
    this.waiting--;
    if (this.waiting === 0) {
      this.slots = [];
      this.firstId = id + 1;
      this.head = 0;
      return w;
    }
    if (at === this.head) {
      while (this.slots[this.head] === undefined) this.head++;
      if (this.head >= 64 && this.head * 2 >= this.slots.length) {
        this.slots = this.slots.slice(this.head);
        this.firstId += this.head;
        this.head = 0;
      }
    }
    return w;
  }

  /** Answers everything still waiting with `error` (group deleted, node stopping). */
  failAll(error: RpcError): void {
    for (let i = this.head; i < this.slots.length; i++) {
      const w = this.slots[i];
      if (w) answer(w, { error });
    }
    this.slots = [];
    this.head = 0;
    this.waiting = 0;
  }
}
