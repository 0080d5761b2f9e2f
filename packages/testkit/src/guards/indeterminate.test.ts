// Rule "Appends are idempotent" (DESIGN.md), its last clause: a result that cannot be known is reported as
// `indeterminate`, distinct from `failed`. A replica cannot know the fate of an entry it issued once that entry
// lies below a base it was rebuilt to, or once it left service; a copy elsewhere may still be committed.
import { describe, expect, it } from "vitest";
import { entryAtOneFollower, failedWrite } from "./entry-at-one-follower.ts";
import { GUARD_TIMEOUT, range, scriptGuard, type Unsafe } from "./harness.ts";

const WRONG_FAILED = /reported failed but was committed/;

/**
 * Leader A's entry Z reaches only B, then A is cut off. B and C lead on and commit Z, and recycle past it.
 * Back in touch, A is too far behind to catch up: it rebuilds from the new base, above Z.
 */
function rebuiltPastOwnEntry(seed: number, unsafe: Unsafe | undefined): string[] {
  const { s, A, B, C, zEnd } = entryAtOneFollower(seed, unsafe, false);
  s.sim.partition([A.self]);
  const L = s.leader(1, [B, C]);
  s.append(L.self, 5, 60);
  expect(
    s.until(() => L.committedEnd >= L.log.end && L.committedEnd > zEnd, 5000),
    `seed ${seed}: Z committed`,
  ).toBe(true);
  for (const id of [B, C]) {
    const r = s.replica(id)!;
    s.until(() => r.committedEnd >= L.committedEnd, 2000);
    r.advanceBase(r.committedEnd, s.t);
  }
  s.sim.heal();
  s.run(3000);
  return s.finish();
}

describe("guard: a result that cannot be known is indeterminate, not failed", () => {
  it(
    "below a rebuilt base (unknownAsFailed), seeds 1..10",
    () => {
      // First catching seed when written: 1.
      const seed = scriptGuard({ unknownAsFailed: true }, range(1, 10), WRONG_FAILED, rebuiltPastOwnEntry);
      expect(seed).toBeGreaterThan(0);
    },
    GUARD_TIMEOUT,
  );

  it(
    "after leaving service (unknownAsFailed), seeds 1..10",
    () => {
      // First catching seed when written: 1.
      const seed = scriptGuard({ unknownAsFailed: true }, range(1, 10), WRONG_FAILED, (seed, unsafe) =>
        failedWrite(seed, unsafe, false),
      );
      expect(seed).toBeGreaterThan(0);
    },
    GUARD_TIMEOUT,
  );
});
