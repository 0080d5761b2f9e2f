// The send schedule of the append load. Open loop (`rate` set): operation i is due at start + i/rate, and
// its latency runs from that intended time, not from when it was actually sent: when the cluster (or this
// process) stalls, the operations that should have gone out meanwhile are charged the stall, so
// coordinated omission cannot hide it (as in wrk2). Closed loop (no rate): each of `inflight` slots sends
// again as soon as its previous operation completed, and the intended time is the send time.

/** Time source of the scheduler (ms, monotonic); tests pass a fake one. */
export interface LoadClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: LoadClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/** One finished operation, with its three instants on the scheduler's clock. */
export interface Completion {
  readonly index: number;
  /** When the schedule wanted it sent (open loop), or when it was sent (closed loop). */
  readonly intendedAt: number;
  readonly sentAt: number;
  readonly endAt: number;
  /** Undefined when it succeeded. */
  readonly error?: unknown;
}

export interface ScheduleOptions {
  /** Target operations per second; undefined: closed loop. */
  readonly rate?: number;
  /** Operations outstanding at most. */
  readonly inflight: number;
  /** Stop after this many operations... */
  readonly count?: number;
  /** ...or once the next one would be due at (or after) this clock time. */
  readonly until?: number;
  /** Start of the schedule (default: clock.now() when called). */
  readonly start?: number;
  readonly clock?: LoadClock;
  /** Sends operation `index` (due at `intendedAt`); resolves when it is done (acknowledged), rejects when it failed. */
  send(index: number, intendedAt: number): Promise<unknown>;
  /** Called once per operation when it ends. */
  onDone(c: Completion): void;
  /** Stops scheduling new operations (the outstanding ones still complete). */
  readonly signal?: AbortSignal;
}

/** Latency charged to an operation: from its intended send time to its end. */
export function latencyOf(c: Completion): number {
  return c.endAt - c.intendedAt;
}

/** Runs the schedule to its end and waits for every outstanding operation; resolves with the count sent. */
export async function runSchedule(o: ScheduleOptions): Promise<number> {
  if (o.count === undefined && o.until === undefined && o.signal === undefined)
    throw new Error("runSchedule needs count, until or signal");
  if (o.rate !== undefined && !(o.rate > 0)) throw new Error(`rate must be > 0, got ${o.rate}`);
  const clock = o.clock ?? realClock;
  const start = o.start ?? clock.now();
  const interval = o.rate === undefined ? 0 : 1000 / o.rate;
  let outstanding = 0;
  let slotFreed: (() => void) | undefined;
  let drained: (() => void) | undefined;
  let sinceYield = 0;
  let index = 0;
  for (; ; index++) {
    if (o.signal?.aborted || (o.count !== undefined && index >= o.count)) break;
    let intendedAt: number | undefined;
    if (o.rate !== undefined) {
      intendedAt = start + index * interval;
      if (o.until !== undefined && intendedAt >= o.until) break;
      const wait = intendedAt - clock.now();
      if (wait > 0) {
        await clock.sleep(wait);
        sinceYield = 0;
      }
    }
    // A full window delays the send; in open loop the delay is charged (intendedAt stays as scheduled).
    while (outstanding >= o.inflight) {
      await new Promise<void>((r) => {
        slotFreed = r;
      });
      sinceYield = 0;
    }
    if (o.signal?.aborted) break;
    const sentAt = clock.now();
    if (intendedAt === undefined) {
      if (o.until !== undefined && sentAt >= o.until) break;
      intendedAt = sentAt;
    }
    outstanding++;
    const i = index;
    const at = intendedAt;
    const finish = (error?: unknown) => {
      outstanding--;
      o.onDone({
        index: i,
        intendedAt: at,
        sentAt,
        endAt: clock.now(),
        ...(error === undefined ? {} : { error }),
      });
      const wake = slotFreed;
      slotFreed = undefined;
      wake?.();
      if (outstanding === 0) drained?.();
    };
    let p: Promise<unknown>;
    try {
      p = o.send(i, at);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      () => finish(),
      (e: unknown) => finish(e ?? new Error("failed")),
    );
    // Catching up after a stall sends many at once: let acknowledgements in now and then.
    if (++sinceYield >= 256) {
      sinceYield = 0;
      await new Promise<void>((r) => setImmediate(r));
    }
  }
  if (outstanding > 0)
    await new Promise<void>((r) => {
      drained = r;
    });
  return index;
}
