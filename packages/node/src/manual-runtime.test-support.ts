import type { NodeRuntime, TimerHandle } from "./runtime.ts";

/**
 * A NodeRuntime whose interval and timeouts run only when a test says so (immediates run on settle); its
 * clock moves by hand (`t`).
 */
export class ManualRuntime implements NodeRuntime {
  interval: (() => void) | undefined;
  t = 0;
  random(): number {
    return 0.5;
  }
  private immediates: Array<() => void> = [];
  private timeouts: Array<() => void> = [];
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void): TimerHandle {
    this.timeouts.push(fn);
    return {};
  }
  clearTimeout(): void {}
  setInterval(fn: () => void): TimerHandle {
    this.interval = fn;
    return {};
  }
  clearInterval(): void {}
  setImmediate(fn: () => void): void {
    this.immediates.push(fn);
  }
  /** Runs pending promise callbacks and immediates (and what they queue), not the timeouts. */
  async settle(): Promise<void> {
    for (;;) {
      await new Promise((r) => setImmediate(r));
      const q = this.immediates;
      if (q.length === 0) return;
      this.immediates = [];
      for (const fn of q) fn();
    }
  }
  /** Fires the timeouts set so far. */
  async fireTimeouts(): Promise<void> {
    const q = this.timeouts;
    this.timeouts = [];
    for (const fn of q) fn();
    await this.settle();
  }
}
