/**
 * Time as the store sees it: the server and the SDK take their timers from here (never from globals), so the
 * simulator can drive them on a virtual clock. Same shape as @palf/node's NodeRuntime, which fits as is.
 */
export type KvTimer = object;

export interface KvRuntime {
  /** Monotonic milliseconds. */
  now(): number;
  setTimeout(fn: () => void, ms: number): KvTimer;
  clearTimeout(handle: KvTimer | undefined): void;
}

export const realKvRuntime: KvRuntime = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout | undefined),
};

/** Resolves after `ms` on the runtime's clock. */
export function delay(rt: KvRuntime, ms: number): Promise<void> {
  return new Promise((resolve) => {
    rt.setTimeout(resolve, ms);
  });
}
