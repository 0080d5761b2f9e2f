// Rule "Prepare replies" (DESIGN.md): a promise carries the pid of the last durable entry and the durable end,
// never the promised pid or an in-memory tail; the candidate's own promise is durable before it counts; after
// choosing a log the candidate makes its log equal to it, truncating any suffix of its own the chosen log lacks.
import { describe, expect, it } from "vitest";
import { GUARD_TIMEOUT, range, Script, scriptGuard, scriptOptions, type Unsafe } from "./harness.ts";

const LOST = /leader completeness|state machine safety|reported committed but/;
const REUSED =
  /leader completeness|state machine safety|reported committed but|halted|log matching|election safety/;
/**
 * Leader A is cut off and keeps appending: a long suffix of a low pid that only A holds. B and C elect B, which
 * commits a short suffix of a higher pid. B goes down and A comes back: the election is between A (longer log,
 * lower pid) and C (shorter log, higher pid, holding what B committed). `favourStale` makes A the candidate.
 */
function staleLongerLog(seed: number, unsafe: Unsafe | undefined, favourStale: boolean): string[] {
  const s = new Script(scriptOptions(seed, unsafe));
  const A = s.leader();
  s.append(A.self, 2, 40);
  s.run(100);
  s.sim.partition([A.self]);
  expect(s.append(A.self, 30, 200), `seed ${seed}: stale appends`).toBeGreaterThan(0);
  s.run(100);
  const others = s.ids().filter((id) => id !== A.self);
  const B = s.leader(1, others);
  const C = others.find((id) => id !== B.self)!;
  s.append(B.self, 2, 40);
  expect(
    s.until(() => B.committedEnd >= B.log.end, 2000),
    `seed ${seed}: B commits`,
  ).toBe(true);
  s.sim.crash(B.self);
  s.sim.heal();
  if (favourStale) {
    s.replica(A.self)!.setPriority(3);
    s.replica(C)!.setPriority(-1);
  }
  s.run(8000);
  return s.finish();
}

/**
 * A promise that counts before it is durable can be forgotten in a crash, and then its pid is used twice.
 * Leader L0 writes Y, which only L0 holds. L0's lease lapses (its lease traffic is lost) and C stands with L0
 * (its log traffic to A is lost); C's disk turns slow as it becomes candidate. C takes L0's log (with Y), and C's
 * StartWorking (pid q) lands on L0's disk. If C counted its own promise before it was durable, C can crash
 * now and come back knowing neither q nor Y; it stands again with A, gets q again, and commits a short suffix
 * under q with A. C goes down; L0 and A elect: both logs end with pid q and L0's is longer, so the second use
 * of q loses what it committed.
 */
function forgottenPromise(seed: number, unsafe: Unsafe | undefined): string[] {
  const s = new Script(scriptOptions(seed, unsafe));
  const L0 = s.leader();
  const [C, A] = s.ids().filter((id) => id !== L0.self) as [string, string];
  s.append(L0.self, 2, 40);
  s.run(200);
  s.drop((m) => m.type === "push" && m.from === L0.self);
  expect(s.append(L0.self, 1, 1500), `seed ${seed}: Y`).toBe(1);
  s.run(20);
  // L0 loses its lease but stays reachable for the rest; C stands, and A never hears C's prepare.
  const lease = new Set(["vote", "voteReply", "abdicate", "timeoutNow"]);
  s.drop(
    (m) =>
      (m.type === "push" && m.from === L0.self) ||
      (lease.has(m.type) && (m.from === L0.self || m.to === L0.self)) ||
      (m.from === C && m.to === A && !lease.has(m.type)),
  );
  s.replica(C)!.setPriority(3);
  s.replica(A)!.setPriority(-1);
  s.onEvent = (node, e) => {
    if (node === C && e.type === "role" && e.role === "candidate") s.sim.syncLagMs.set(C, 1000);
  };
  const promised = () => s.sim.nodes.get(C)!.images.get(1)!.meta.promisedPid;
  const early = s.until(
    () => {
      const c = s.replica(C)!;
      const l0 = s.replica(L0.self)!;
      const q = c.reconfirmation?.pid ?? Number.POSITIVE_INFINITY;
      return l0.log.lastPid === q && l0.durableEnd >= l0.log.end && promised() < q;
    },
    8000,
    0.1,
  );
  s.onEvent = undefined;
  if (early) {
    s.sim.crash(C);
    s.run(10);
    s.sim.restart(C);
    s.replica(C)!.setPriority(3);
  }
  s.sim.syncLagMs.clear();
  // Round two: C stands again, this time with A.
  s.drop(undefined);
  s.sim.partition([L0.self]);
  const leaderC = s.leader(1, [C], 20_000);
  s.append(C, 1, 20);
  s.until(() => leaderC.committedEnd >= leaderC.log.end, 2000);
  s.run(50);
  s.sim.crash(C);
  s.sim.heal();
  s.replica(A)!.setPriority(0);
  s.run(8000);
  return s.finish();
}

describe("guard: prepare replies", () => {
  it(
    "a promise carries the pid of its last entry, not the promised pid (prepareReplyPromisedPid), seeds 1..10",
    () => {
      // With every promise reporting the same pid, the longest log wins. First catching seed when written: 1.
      const seed = scriptGuard({ prepareReplyPromisedPid: true }, range(1, 10), LOST, (seed, unsafe) =>
        staleLongerLog(seed, unsafe, false),
      );
      expect(seed).toBeGreaterThan(0);
    },
    GUARD_TIMEOUT,
  );

  it(
    "the candidate truncates its own suffix that the chosen log lacks (keepOwnSuffix), seeds 1..10",
    () => {
      // First catching seed when written: 1.
      const seed = scriptGuard({ keepOwnSuffix: true }, range(1, 10), LOST, (seed, unsafe) =>
        staleLongerLog(seed, unsafe, true),
      );
      expect(seed).toBeGreaterThan(0);
    },
    GUARD_TIMEOUT,
  );

  it(
    "the candidate's own promise counts once durable (countOwnPromiseEarly), seeds 1..30",
    () => {
      // First catching seed when written: 4 (a crash keeps a random prefix of C's unsynced writes).
      const seed = scriptGuard({ countOwnPromiseEarly: true }, range(1, 30), REUSED, forgottenPromise);
      expect(seed).toBeGreaterThan(0);
    },
    GUARD_TIMEOUT,
  );

  it(
    "a promise leaves only once durable (prepareReplyBeforeDurable), seeds 1..30",
    () => {
      // First catching seed when written: 4 (a crash keeps a random prefix of C's unsynced writes).
      const seed = scriptGuard({ prepareReplyBeforeDurable: true }, range(1, 30), REUSED, forgottenPromise);
      expect(seed).toBeGreaterThan(0);
    },
    GUARD_TIMEOUT,
  );
});
