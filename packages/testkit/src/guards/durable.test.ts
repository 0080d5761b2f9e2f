// Rule "Durable before it leaves" (DESIGN.md): promises, grants, accepts and acks go out only after the
// fdatasync that made them durable; only the leader's own pushes may leave before its sync, and the leader
// counts its own position as its synced end. (Moved here from checker.test.ts, where the first guard lived.)
import { describe, expect, it } from "vitest";
import { GUARD_TIMEOUT, range, Script, scriptGuard, scriptOptions, type Unsafe } from "./harness.ts";

const LOST = /state machine safety|leader completeness|reported committed/;
/**
 * Leader A commits an entry with B's ack while C is cut off, then A and B crash. B restarts (losing what was
 * not synced) and elects a leader with C while A is down. With the durability gate intact, B's ack meant the
 * entry was on B's disk, so the new leader has it. With acks leaving before their fsync, B may have acked an
 * entry it then lost: the checkers must see the committed entry replaced.
 */
function lostAck(seed: number, unsafe: Unsafe | undefined): string[] {
  const s = new Script(scriptOptions(seed, unsafe, { maxSyncMs: 20 }));
  const A = s.leader().self;
  const [B, C] = s.ids().filter((n) => n !== A) as [string, string];
  s.sim.append(1, A, 32);
  s.run(100);
  s.sim.faults.blocked.add(`${A}>${C}`);
  const before = s.replica(A)!.committedEnd;
  s.sim.append(1, A, 32);
  s.until(() => s.replica(A)!.committedEnd > before, 50, 0.05);
  expect(s.replica(A)!.committedEnd, `seed ${seed}: A committed`).toBeGreaterThan(before);
  s.sim.crash(B);
  s.sim.crash(A);
  s.sim.heal();
  s.run(10);
  s.sim.restart(B);
  s.run(10_000);
  s.sim.restart(A);
  s.run(5000);
  s.sim.checkLogs();
  s.sim.checker.finish(true);
  return s.sim.checker.violations;
}

/**
 * Leader A commits an entry with B's ack while C is cut off, then A and B crash; A restarts and elects a leader
 * with C while B is down. A leader that counts its own position as its synced end had the entry on its disk
 * when it committed it; one that counts its log end may have lost it in the crash.
 */
function lostLeaderWrite(seed: number, unsafe: Unsafe | undefined): string[] {
  const s = new Script(scriptOptions(seed, unsafe, { maxSyncMs: 20 }));
  const A = s.leader().self;
  const [B, C] = s.ids().filter((n) => n !== A) as [string, string];
  s.sim.append(1, A, 32);
  s.run(100);
  s.sim.faults.blocked.add(`${A}>${C}`);
  s.sim.append(1, A, 32);
  s.until(() => s.replica(A)!.committedEnd >= s.replica(A)!.log.end, 50, 0.05);
  s.sim.crash(A);
  s.sim.crash(B);
  s.sim.heal();
  s.run(10);
  s.sim.restart(A);
  s.run(10_000);
  s.sim.restart(B);
  s.run(5000);
  s.sim.checkLogs();
  s.sim.checker.finish(true);
  return s.sim.checker.violations;
}

describe("guard: durable before it leaves", () => {
  it(
    "acks (promises, grants, accepts) leave only after their fsync (sendBeforeDurable), seeds 1..10",
    () => {
      // Whether B's crash loses the entry depends on the seed (a torn tail keeps a random prefix).
      // First catching seed when written: 1.
      const seed = scriptGuard({ sendBeforeDurable: true }, range(1, 10), LOST, lostAck);
      expect(seed).toBeGreaterThan(0);
    },
    GUARD_TIMEOUT,
  );

  it(
    "the leader counts its synced end, not its log end (leaderCountsLogEnd), seeds 1..20",
    () => {
      // First catching seed when written: 2.
      const seed = scriptGuard({ leaderCountsLogEnd: true }, range(1, 20), LOST, lostLeaderWrite);
      expect(seed).toBeGreaterThan(0);
    },
    GUARD_TIMEOUT,
  );
});
