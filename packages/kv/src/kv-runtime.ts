import { delay, type Runtime, realRuntime, type TimerHandle } from "@palf/transport";

/**
 * Time as the store sees it: the server and the SDK take their timers from here (never from globals), so the
 * simulator can drive them on a virtual clock. The clock-and-timers part of transport's Runtime, as
 * @palf/node's NodeRuntime is.
 */
export type KvRuntime = Pick<Runtime, "now" | "setTimeout" | "clearTimeout">;
export type KvTimer = TimerHandle;

export const realKvRuntime: KvRuntime = realRuntime;

/** Resolves after `ms` on the runtime's clock. */
export { delay };
