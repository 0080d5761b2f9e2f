import type { Runtime, TimerHandle } from "@palf/transport";

interface ManualTimer {
  due: number;
  readonly fn: () => void;
  readonly every: number | undefined;
  live: boolean;
}

/**
 * A Runtime whose clock moves only when the test says (advance), whose setImmediate callbacks run only on
 * turn(), and whose randomness is a fixed value: code that used a global timer or clock instead would act
 * on its own and the test would see it.
 */
export class ManualRuntime implements Runtime {
  private time = 0;
  private timers: ManualTimer[] = [];
  private immediates: Array<() => void> = [];

  constructor(private readonly value = 0.5) {}

  now(): number {
    return this.time;
  }
  wallNow(): number {
    return 1_700_000_000_000 + this.time;
  }
  random(): number {
    return this.value;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, undefined);
  }
  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, Math.max(1, ms));
  }
  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle !== undefined) (handle as ManualTimer).live = false;
  }
  clearInterval(handle: TimerHandle | undefined): void {
    this.clearTimeout(handle);
  }
  setImmediate(fn: () => void): void {
    this.immediates.push(fn);
  }

  /** Runs the setImmediate callbacks queued so far, then lets the promise continuations they started run. */
  async turn(): Promise<void> {
    for (const fn of this.immediates.splice(0)) fn();
    await settle();
  }

  /** Moves the clock by `ms`, firing due timers in order, with turns in between. */
  async advance(ms: number): Promise<void> {
    const until = this.time + ms;
    for (;;) {
      await this.turn();
      this.timers = this.timers.filter((t) => t.live);
      const next = this.timers.reduce<ManualTimer | undefined>(
        (a, t) => (a && a.due <= t.due ? a : t),
        undefined,
      );
      if (next === undefined || next.due > until) break;
      this.time = Math.max(this.time, next.due);
      if (next.every === undefined) next.live = false;
      else next.due = this.time + next.every;
      next.fn();
    }
    this.time = until;
    await this.turn();
  }

  private add(fn: () => void, ms: number, every: number | undefined): ManualTimer {
    const t: ManualTimer = { due: this.time + Math.max(0, ms), fn, every, live: true };
    this.timers.push(t);
    return t;
  }
}

/** Lets every promise continuation queued so far run (one real macrotask turn). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
