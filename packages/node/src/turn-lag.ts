import type { LoopLag } from "@palf/core";

/** Turns shorter than this are a loop that keeps up: no stretch at all (and no deadline churn). */
const KEEPS_UP_MS = 20;
/** Each turn keeps this share of the previous estimate: one slow turn is remembered for a few dozen turns. */
const DECAY = 0.9;
/** Reported in steps of this, so replicas' deadlines do not move with every turn's small change. */
const STEP_MS = 10;

/**
 * The node's LoopLag, measured from its shards' turns (all shards share the process's one event loop, so
 * one estimate serves them all): a decaying maximum of recent turn durations on the node's own clock. The
 * simulators' virtual turns take no time, so there it stays 0 and their runs are unchanged.
 */
export class TurnLag implements LoopLag {
  private estimate = 0;

  /** A shard's loop turn took `ms`. */
  turnTook(ms: number): void {
    this.estimate = Math.max(ms > 0 ? ms : 0, this.estimate * DECAY);
  }

  lagMs(): number {
    return this.estimate < KEEPS_UP_MS ? 0 : Math.floor(this.estimate / STEP_MS) * STEP_MS;
  }
}
