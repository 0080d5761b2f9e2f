import { randomBytes } from "node:crypto";

/**
 * Time, scheduling and randomness as palf code sees them: the node, the GTS client, the client SDK and the
 * store take them from a Runtime, never from globals. Production uses Node's clock, timers and randomness
 * (realRuntime); the whole-node simulator passes a virtual clock, an event queue and a seeded generator, so
 * the same code runs seeded and replayable. Defined here, the lowest package all of them depend on.
 */
/** Opaque: whatever the runtime's setTimeout returned. */
export type TimerHandle = object;

export interface Runtime {
  /** Monotonic milliseconds (leases, deadlines, backoff); a wall-clock step never moves it. */
  now(): number;
  /** Wall-clock milliseconds since the epoch (Date.now): only for ids and timestamps people read, never for timing. */
  wallNow(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
  setInterval(fn: () => void, ms: number): TimerHandle;
  clearInterval(handle: TimerHandle | undefined): void;
  /** Runs fn after the current turn (Node: setImmediate). */
  setImmediate(fn: () => void): void;
  /** A uniform number in [0, 1) with at least 48 random bits (session ids, jitter). */
  random(): number;
}

export const realRuntime: Runtime = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout | undefined),
  setInterval: (fn, ms) => setInterval(fn, ms),
  clearInterval: (h) => clearInterval(h as NodeJS.Timeout | undefined),
  setImmediate: (fn) => {
    setImmediate(fn);
  },
  // From the OS's generator, not Math.random: session ids must not collide between client processes.
  random: () => randomBytes(6).readUIntBE(0, 6) / 2 ** 48,
};

/** Resolves after `ms` on the runtime's clock. */
export function delay(rt: Runtime, ms: number): Promise<void> {
  return new Promise((resolve) => {
    rt.setTimeout(resolve, ms);
  });
}
