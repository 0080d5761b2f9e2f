// Rule "Appends are idempotent" (DESIGN.md): a client session id + sequence number lets a leader (and its
// successor, from the log) recognise a retried append; a result that cannot be known is reported as
// `indeterminate`. The chaos driver tags half its appends with sessions and retries some of them, to the same
// or the next leader; the checker flags a (session, seq) committed twice.
import { describe, expect, it } from "vitest";
import { chaosGuard, GUARD_TIMEOUT, Script, scriptGuard, scriptOptions, type Unsafe } from "./harness.ts";

const TWICE = /idempotency: .* committed twice/;

/** One session appends past its window (256 seqs), then retries its first append. */
function retryBelowWindow(seed: number, unsafe: Unsafe | undefined): string[] {
  const s = new Script(scriptOptions(seed, unsafe));
  const A = s.leader();
  const first = s.sim.payload(40);
  expect(s.sim.append(1, A.self, 40, 0, { id: 7, seq: 0 }, first), `seed ${seed}: first append`).toBe(true);
  for (let seq = 1; seq < 300; seq++) {
    s.sim.append(1, A.self, 40, 0, { id: 7, seq });
    if (seq % 50 === 0) s.run(20);
  }
  s.run(200);
  // The retry of seq 0: the leader no longer knows how it ended, so the answer is INDETERMINATE.
  s.sim.append(1, A.self, 40, 0, { id: 7, seq: 0 }, first);
  s.run(200);
  return s.finish();
}

describe("guard: idempotent appends", () => {
  it(
    "the leader recognises a retried (session, seq) (noSessionCheck): chaos seeds 1..50",
    () => {
      // First catching seed when written: 1.
      chaosGuard({ noSessionCheck: true }, { groups: 3, replicas: 3, steps: 300 }, 1, 50, TWICE);
    },
    GUARD_TIMEOUT,
  );

  it(
    "its successor recognises it from the log (sessionsFromLeaderOnly): chaos seeds 1..50",
    () => {
      // First catching seed when written: 3.
      chaosGuard({ sessionsFromLeaderOnly: true }, { groups: 3, replicas: 3, steps: 300 }, 1, 50, TWICE);
    },
    GUARD_TIMEOUT,
  );

  it(
    "a retry below the session window is INDETERMINATE, not new (forgottenSeqIsNew), seeds 1..5",
    () => {
      // First catching seed when written: 1.
      const seed = scriptGuard({ forgottenSeqIsNew: true }, [1, 2, 3, 4, 5], TWICE, retryBelowWindow);
      expect(seed).toBeGreaterThan(0);
    },
    GUARD_TIMEOUT,
  );

  // Found while writing these guards: the session table is rebuilt from the log alone, and a recycled (or
  // rebuilt) base carries no session state, so a retry whose first copy lies below the base looked new and
  // was committed twice. Now a client marks a resend after an unknown outcome as a retry, and a leader whose
  // log does not reach back to the group's creation answers INDETERMINATE for a retry it cannot find.
  it(
    "a retry of an append recycled below the base is not appended again (retryIgnoresRecycling): chaos seeds 56..80",
    () => {
      // First catching seed when written: 8; 65 since a leader adding a member holds the joiner's grant before
      // the switch (fewer leaderships lapse in the chaos).
      chaosGuard({ retryIgnoresRecycling: true }, { groups: 3, replicas: 3, steps: 300 }, 56, 80, TWICE);
    },
    GUARD_TIMEOUT,
  );
});
