// Guard tests of the store's rules in the store simulator: each switch, replayed at its first catching seed,
// is caught by the named check, and the same seed is clean with the switch off (see kv-guards.test-support.ts).
import { kvUnsafeSwitchNames } from "@palf/kv";
import { describe, expect, it } from "vitest";
import { runKvChaos } from "./kv-chaos.ts";
import { KV_SIM_GUARDS } from "./kv-guards.test-support.ts";

describe("store rule guards (store simulator)", () => {
  it("every KvUnsafeSwitches field has a guard here", () => {
    const guarded = new Set(KV_SIM_GUARDS.map((g) => g.name));
    expect(kvUnsafeSwitchNames.filter((n) => !guarded.has(n))).toEqual([]);
  });

  for (const g of KV_SIM_GUARDS) {
    it(`${g.name} (${g.rule}): caught at seed ${g.seed}; clean with the switch off`, {
      timeout: 300_000,
    }, async () => {
      const caught = await runKvChaos({ seed: g.seed, unsafe: { [g.name]: true } });
      expect(caught.consulted).toContain(g.name);
      expect(
        caught.violations.some((v) => g.caughtBy.test(v)),
        caught.violations.slice(0, 3).join("\n"),
      ).toBe(true);
      const clean = await runKvChaos({ seed: g.seed });
      expect(clean.violations, `pnpm sim:kv --seeds 1 --start ${g.seed}`).toEqual([]);
    });
  }
});
