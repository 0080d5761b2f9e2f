/**
 * The node's clock and timers: the one Runtime of @palf/transport (the simulator passes a virtual one).
 * NodeRuntime, its older name here, is the part the node uses (no wall clock, no randomness), so a test
 * runtime for one node component need not supply the rest.
 */
import type { Runtime } from "@palf/transport";

export { type Runtime, realRuntime, type TimerHandle } from "@palf/transport";
export type NodeRuntime = Pick<
  Runtime,
  "now" | "setTimeout" | "clearTimeout" | "setInterval" | "clearInterval" | "setImmediate"
>;
