/**
 * The node's clock, timers and randomness: the one Runtime of @palf/transport (the simulator passes a virtual
 * one). NodeRuntime is its older name here, kept for the files that still say it.
 */
export { type Runtime, type Runtime as NodeRuntime, realRuntime, type TimerHandle } from "@palf/transport";
