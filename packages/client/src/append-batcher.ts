import type { Runtime } from "@palf/transport";

/** What the batcher needs to know of one queued append. */
export interface BatchItem {
  readonly group: number;
  /** Bytes this item adds to a request (payload plus an estimate of its framing). */
  readonly size: number;
  /** The runtime's now() after which the item must not be sent again. */
  readonly deadline: number;
}

export interface AppendBatcherOptions<T extends BatchItem> {
  /** Where "the end of this turn" (setImmediate) and deadlines come from. */
  readonly runtime: Runtime;
  /** Requests in flight per client, over all groups; further batches wait in their group's queue. */
  readonly maxInFlight: number;
  /**
   * Requests in flight per group (default: no limit beyond maxInFlight). With 1, a group's seqs reach the
   * leader strictly in order, retries included (a held group sends nothing until its retry is requeued).
   */
  readonly maxInFlightPerGroup?: number;
  /** A batch is sent at once when it reaches this many items... */
  readonly maxBatchItems: number;
  /** ...or this many bytes (a single larger item still goes alone). */
  readonly maxBatchBytes: number;
  /** Sends one batch as one request; the in-flight slot is held until the promise settles. */
  readonly send: (group: number, batch: T[]) => Promise<void>;
  /** An item whose deadline passed while it waited in the queue; it is not sent. */
  readonly expired: (item: T) => void;
}

interface GroupQueue<T> {
  items: T[];
  bytes: number;
  /** In the ready list already (one entry per group). */
  ready: boolean;
}

/**
 * Client-side batching with back-pressure. Appends to one group issued in the same event loop turn go
 * out as one request (a batch is also cut at maxBatchItems / maxBatchBytes); at most maxInFlight requests
 * are outstanding per client, and what cannot be sent waits in its group's queue (where it keeps batching)
 * until a request finishes. Groups with queued items take turns, so one busy group cannot starve others.
 */
export class AppendBatcher<T extends BatchItem> {
  private readonly queues = new Map<number, GroupQueue<T>>();
  private readonly ready: number[] = [];
  private inFlight = 0;
  /** Requests in flight (and holds) per group; absent means 0. */
  private readonly groupInFlight = new Map<number, number>();
  private readonly perGroup: number;
  /** Fenced groups (count of fences); see fence(). */
  private readonly fences = new Map<number, number>();
  private queuedItems = 0;
  private queuedBytes = 0;
  private scheduled = false;
  private closed = false;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly o: AppendBatcherOptions<T>) {
    if (!(o.maxInFlight >= 1 && o.maxBatchItems >= 1 && o.maxBatchBytes >= 1))
      throw new Error("maxInFlight, maxBatchItems and maxBatchBytes must be at least 1");
    this.perGroup = o.maxInFlightPerGroup ?? Number.POSITIVE_INFINITY;
    if (!(this.perGroup >= 1)) throw new Error("maxInFlightPerGroup must be at least 1");
  }

  /** Counts as one request in flight for `group` until release() (a retry waiting for its backoff). */
  hold(group: number): void {
    this.groupInFlight.set(group, (this.groupInFlight.get(group) ?? 0) + 1);
  }

  /** Ends a hold(); the group may send again. */
  release(group: number): void {
    this.leave(group);
    this.schedule();
  }

  /**
   * Nothing of `group` is sent until unfence() (whatever maxInFlightPerGroup says): a retry whose first
   * attempt may have been applied waits for its backoff, and later appends must not overtake it by more
   * than the leader's window of recent seqs, or the leader can no longer tell it apart from a new append.
   */
  fence(group: number): void {
    this.fences.set(group, (this.fences.get(group) ?? 0) + 1);
  }

  /** Ends a fence(); call it after requeueing the retry, so the retry goes first. */
  unfence(group: number): void {
    const n = (this.fences.get(group) ?? 0) - 1;
    if (n > 0) this.fences.set(group, n);
    else this.fences.delete(group);
    this.schedule();
  }

  /** Requests outstanding now. */
  get inFlightCount(): number {
    return this.inFlight;
  }

  /** Items waiting to be sent and their bytes. */
  get queued(): { readonly items: number; readonly bytes: number } {
    return { items: this.queuedItems, bytes: this.queuedBytes };
  }

  /** Queues a new item at the back of its group's queue. */
  enqueue(item: T): void {
    this.add([item], false);
  }

  /** Queues items again (a retry) at the front of their group's queue, so they keep their turn. */
  requeue(items: readonly T[]): void {
    const byGroup = new Map<number, T[]>();
    for (const i of items) {
      const list = byGroup.get(i.group);
      if (list === undefined) byGroup.set(i.group, [i]);
      else list.push(i);
    }
    for (const list of byGroup.values()) this.add(list, true);
  }

  /** Stops sending; returns every queued item (the caller fails them). */
  close(): T[] {
    this.closed = true;
    const out: T[] = [];
    for (const q of this.queues.values()) out.push(...q.items);
    this.queues.clear();
    this.ready.length = 0;
    this.queuedItems = 0;
    this.queuedBytes = 0;
    return out;
  }

  /** Resolves once no request is in flight. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private add(items: readonly T[], front: boolean): void {
    if (this.closed) throw new Error("the batcher is closed");
    const group = items[0]!.group;
    let q = this.queues.get(group);
    if (q === undefined) {
      q = { items: [], bytes: 0, ready: false };
      this.queues.set(group, q);
    }
    if (front) q.items.unshift(...items);
    else q.items.push(...items);
    for (const i of items) {
      q.bytes += i.size;
      this.queuedBytes += i.size;
    }
    this.queuedItems += items.length;
    if (!q.ready) {
      q.ready = true;
      this.ready.push(group);
    }
    // A full batch goes now; anything smaller waits for the end of this turn to collect more.
    const full = q.items.length >= this.o.maxBatchItems || q.bytes >= this.o.maxBatchBytes;
    if (full && this.inFlight < this.o.maxInFlight && this.canSend(group)) this.sendFrom(group, q);
    this.schedule();
  }

  private schedule(): void {
    if (this.scheduled || this.closed) return;
    this.scheduled = true;
    this.o.runtime.setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  /** Sends batches while slots are free, one group after another; groups at their own limit keep their place. */
  private pump(): void {
    const blocked: number[] = [];
    while (!this.closed && this.inFlight < this.o.maxInFlight && this.ready.length > 0) {
      const group = this.ready.shift()!;
      const q = this.queues.get(group);
      if (q === undefined) continue;
      if (!this.canSend(group)) {
        blocked.push(group);
        continue;
      }
      q.ready = false;
      this.sendFrom(group, q);
    }
    this.ready.unshift(...blocked);
  }

  private canSend(group: number): boolean {
    return (this.groupInFlight.get(group) ?? 0) < this.perGroup && !this.fences.has(group);
  }

  private leave(group: number): void {
    const n = (this.groupInFlight.get(group) ?? 0) - 1;
    if (n > 0) this.groupInFlight.set(group, n);
    else this.groupInFlight.delete(group);
  }

  private sendFrom(group: number, q: GroupQueue<T>): void {
    const batch = this.cut(q);
    if (q.items.length === 0) {
      this.queues.delete(group);
      if (q.ready) this.ready.splice(this.ready.indexOf(group), 1);
      q.ready = false;
    } else if (!q.ready) {
      q.ready = true;
      this.ready.push(group);
    }
    if (batch.length === 0) return;
    this.inFlight++;
    this.hold(group);
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      this.inFlight--;
      this.leave(group);
      if (this.inFlight === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const w of waiters) w();
      }
      // A freed slot goes to whoever waits now, without waiting for another turn.
      this.pump();
    };
    this.o.send(group, batch).then(done, done);
  }

  /** Takes one batch from the front of the queue, dropping items whose deadline passed. */
  private cut(q: GroupQueue<T>): T[] {
    const now = this.o.runtime.now();
    const batch: T[] = [];
    let bytes = 0;
    let taken = 0;
    while (taken < q.items.length && batch.length < this.o.maxBatchItems) {
      const next = q.items[taken]!;
      if (batch.length > 0 && bytes + next.size > this.o.maxBatchBytes) break;
      taken++;
      q.bytes -= next.size;
      this.queuedBytes -= next.size;
      this.queuedItems--;
      if (now >= next.deadline) {
        this.o.expired(next);
        continue;
      }
      batch.push(next);
      bytes += next.size;
    }
    q.items.splice(0, taken);
    return batch;
  }
}
