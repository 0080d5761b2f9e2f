/**
 * Time and scheduling as the node runtime sees them. Production uses Node's clock and timers; the
 * whole-node simulator passes a virtual clock and an event queue, so the same code runs seeded and
 * replayable. Times are monotonic milliseconds.
 */
/** Opaque: whatever the runtime's setTimeout returned. */
export type TimerHandle = object;

export interface NodeRuntime {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
  /** Runs fn after the current turn (Node: setImmediate). */
  setImmediate(fn: () => void): void;
}

export const realRuntime: NodeRuntime = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout | undefined),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout | undefined),
  setImmediate: (fn) => {
    setImmediate(fn);
  },
};
