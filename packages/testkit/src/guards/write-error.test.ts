// Rule "Truncation" (DESIGN.md), its last two clauses: an LSN is never reused within a pid, and a write error
// after an LSN was assigned takes the replica out of service. A leader that shrugs off a failed write by
// cutting its unsynced tail and going on under the same pid gives two entries one (pid, LSN): a follower
// that got the first one takes the second (W, of the same size) for a copy it already has.
import { describe, expect, it } from "vitest";
import { failedWrite } from "./entry-at-one-follower.ts";
import { GUARD_TIMEOUT, range, scriptGuard } from "./harness.ts";

describe("guard: a write error takes the replica out of service; an LSN is never reused within a pid", () => {
  it(
    "a leader whose write failed halts instead of assigning the LSNs again (reuseLsnAfterWriteError), seeds 1..10",
    () => {
      // First catching seed when written: 1 (state machine safety, log matching, a second result at one LSN).
      const seed = scriptGuard(
        { reuseLsnAfterWriteError: true },
        range(1, 10),
        /state machine safety|log matching|leader completeness|reported committed but/,
        (seed, unsafe) => failedWrite(seed, unsafe, true),
      );
      expect(seed).toBeGreaterThan(0);
    },
    GUARD_TIMEOUT,
  );
});
