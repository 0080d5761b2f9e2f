/**
 * A user that recycles, as a store on PALF does after each checkpoint: every so often it advances the base of
 * every member of every group to the highest committed end the group's readers have seen. Seeds with a disk
 * budget run it from start to end (healing included), because there a WAL fills up unless bases advance; the
 * chaos driver's own random recycling comes on top.
 */
import { encodeRpc } from "@palf/transport";
import type { NodeSim } from "./node-sim.ts";
import type { ClientEnv } from "./sim-clients.ts";

/** Which incarnation of a group its clients work on, and whether it is being recreated (see GroupRecreator). */
export interface GroupIncarnations {
  incOf(group: number): number;
  busy(group: number): boolean;
}

/** Starts the checkpoints at `fromMs` and repeats them every `everyMs` (virtual) until the run ends. */
export function startCheckpoints(
  sim: NodeSim,
  env: ClientEnv,
  incs: GroupIncarnations,
  fromMs: number,
  everyMs: number,
): void {
  const tick = (): void => {
    const seen = new Map<number, number>();
    for (const op of env.ops) {
      const out = op.output;
      if (out?.status !== "ok" || !("committedEnd" in out) || op.inc !== incs.incOf(op.group)) continue;
      seen.set(op.group, Math.max(seen.get(op.group) ?? 0, out.committedEnd));
    }
    for (const [group, lsn] of seen) {
      if (incs.busy(group)) continue;
      for (const m of sim.groups.get(group) ?? []) {
        if (!sim.up(m)) continue;
        sim.net
          .rpc("checkpoint", m, encodeRpc({ op: "advanceBase", group, lsn }), 2000, undefined, true)
          .catch(() => {});
      }
    }
    sim.sched.at(sim.sched.now + everyMs, tick);
  };
  sim.sched.at(fromMs, tick);
}
