// Rule "Leases" (DESIGN.md): a lease lasts L(1 - 2 drift) - guard counted from when the request was sent;
// "lease valid now" is checked at every use; a transferring leader drops its lease first; restarted and new
// members grant nothing for one lease; grants carry the config version. Lease bugs do not break the log (that
// rests on pids): the simulator's lease checker catches them, as it knows true time and every clock.
import { describe, expect, it } from "vitest";
import {
  chaosGuard,
  GUARD_TIMEOUT,
  range,
  Script,
  scriptGuard,
  scriptOptions,
  type Unsafe,
} from "./harness.ts";

const OVERLAP = /lease overlap/;
/** The leader's timers run late (a busy or paused process) while it is cut off: its lease runs out first. */
function slowLeaderCutOff(seed: number, unsafe: Unsafe | undefined): string[] {
  const s = new Script(scriptOptions(seed, unsafe));
  const A = s.leader();
  s.append(A.self, 3);
  s.run(50);
  s.sim.timerLagMs.set(A.self, 4000);
  s.sim.partition([A.self]);
  s.run(9000);
  return s.finish();
}

/** A member's grant reaches the leader 1.5 s late, and then the leader is cut off. */
function lateGrantThenCutOff(seed: number, unsafe: Unsafe | undefined): string[] {
  const s = new Script(scriptOptions(seed, unsafe));
  const A = s.leader();
  const B = s.ids().find((id) => id !== A.self)!;
  s.sim.faults.intercept = (m) =>
    m.type === "voteReply" && m.from === B && m.to === A.self ? 1500 : undefined;
  s.run(600);
  s.sim.partition([A.self]);
  s.sim.faults.intercept = undefined;
  s.run(9000);
  return s.finish();
}

/**
 * Clocks drift by up to the configured 1% and elections are quick (1 ms vote window and jitter). The member with
 * the slowest clock leads and is cut off: only the L(1 - 2 drift) - guard allowance keeps its lease, counted on
 * its slow clock, from outliving the grants the faster members counted on theirs.
 */
function slowClockLeaderCutOff(seed: number, unsafe: Unsafe | undefined): string[] {
  const s = new Script(
    scriptOptions(seed, unsafe, { drift: 0.01, lease: { voteWindowMs: 1, electionJitterMs: 1 } }),
  );
  const slowest = [...s.sim.nodes.values()].sort((a, b) => a.rate - b.rate)[0]!.id;
  // Only the slowest clock may stand (a negative priority never does), until it is cut off.
  const others = s.ids().filter((id) => id !== slowest);
  for (const id of others) s.replica(id)!.setPriority(-1);
  s.leader(1, [slowest]);
  s.run(500);
  s.sim.partition([slowest]);
  for (const id of others) s.replica(id)!.setPriority(0);
  s.run(6000);
  return s.finish();
}

/**
 * A member lags behind two config changes (add a fourth member, then remove the third); once cut off from the
 * leader, it stands with its old config and asks the removed member, which knows a newer config. Granting it
 * anyway gives the lagging member a lease next to the leader's.
 */
function staleConfigCandidate(seed: number, unsafe: Unsafe | undefined): string[] {
  const s = new Script(scriptOptions(seed, unsafe, { nodes: 4 }));
  const A = s.leader();
  const [B, C] = A.log.config.members.filter((id) => id !== A.self) as [string, string];
  const D = s.ids().find((id) => !A.log.config.members.includes(id))!;
  // B hears no log traffic from the leader (it still grants its lease), so it keeps the first config.
  s.drop((m) => m.from === A.self && m.to === B && m.type !== "vote" && m.type !== "abdicate");
  expect(s.sim.changeConfig(1, { type: "addMember", id: D }), `seed ${seed}: add ${D}`).toBe(true);
  expect(s.until(() => A.log.config.members.includes(D) && A.committedEnd >= A.log.end, 5000)).toBe(true);
  s.run(100);
  expect(s.sim.changeConfig(1, { type: "removeMember", id: C }), `seed ${seed}: remove ${C}`).toBe(true);
  expect(s.until(() => !A.log.config.members.includes(C) && A.committedEnd >= A.log.end, 5000)).toBe(true);
  // Now cut B off from the leader: its grant runs out and it stands with {A, B, C}, C holding a newer config.
  s.drop(undefined);
  s.sim.faults.blocked.add(`${A.self}>${B}`).add(`${B}>${A.self}`);
  s.run(8000);
  return s.finish();
}

describe("guard: leases", () => {
  it(
    "lease validity is checked at every use (leaseByRole), seeds 1..10",
    () => {
      // First catching seed when written: 1.
      const seed = scriptGuard({ leaseByRole: true }, range(1, 10), OVERLAP, slowLeaderCutOff);
      expect(seed).toBeGreaterThan(0);
    },
    GUARD_TIMEOUT,
  );

  it(
    "a lease counts from when its request was sent (leaseFromReply), seeds 1..10",
    () => {
      // First catching seed when written: 1.
      const seed = scriptGuard({ leaseFromReply: true }, range(1, 10), OVERLAP, lateGrantThenCutOff);
      expect(seed).toBeGreaterThan(0);
    },
    GUARD_TIMEOUT,
  );

  it(
    "a lease lasts L(1 - 2 drift) - guard (leaseWithoutDriftGuard), seeds 1..20",
    () => {
      // First catching seed when written: 7.
      const seed = scriptGuard(
        { leaseWithoutDriftGuard: true },
        range(1, 20),
        OVERLAP,
        slowClockLeaderCutOff,
      );
      expect(seed).toBeGreaterThan(0);
    },
    GUARD_TIMEOUT,
  );

  it(
    "grants carry the config version (grantIgnoresConfigVersion), seeds 1..10",
    () => {
      // First catching seed when written: 1.
      const seed = scriptGuard(
        { grantIgnoresConfigVersion: true },
        range(1, 10),
        OVERLAP,
        staleConfigCandidate,
      );
      expect(seed).toBeGreaterThan(0);
    },
    GUARD_TIMEOUT,
  );

  it(
    "a transferring leader drops its lease first (transferKeepsLease): chaos seeds 1..100",
    () => {
      // First catching seed when written: 1.
      chaosGuard({ transferKeepsLease: true }, { groups: 3, replicas: 3, steps: 300 }, 1, 100, OVERLAP);
    },
    GUARD_TIMEOUT,
  );

  it(
    "a restarted replica grants nothing for one lease (grantAfterRestart): chaos seeds 1..100",
    () => {
      // First catching seed when written: 5.
      chaosGuard({ grantAfterRestart: true }, { groups: 3, replicas: 3, steps: 300 }, 1, 100, OVERLAP);
    },
    GUARD_TIMEOUT,
  );
});
