import { describe, expect, it } from "vitest";
import { runNodeChaos } from "./node-chaos.ts";

// The "Byzantine client" fault class on top of the usual faults: extreme-valued requests on both subjects.
// Replay one seed: pnpm sim:node --seeds 1 --start <seed> --byzantine
describe("whole-node simulation with a Byzantine client", () => {
  it.each([1, 2, 3, 4])(
    "seed %i: every extreme request refused or answered clearly, and the usual checks hold",
    { timeout: 240_000 },
    async (seed) => {
      const r = await runNodeChaos({ seed, chaosMs: 6000, byzantineClients: true });
      if (r.violations.length > 0)
        console.error(`replay: pnpm sim:node --seeds 1 --start ${seed} --chaos-ms 6000 --byzantine`);
      expect(r.violations).toEqual([]);
    },
  );
});
