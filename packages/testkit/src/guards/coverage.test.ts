// Every switch in core's UnsafeSwitches must have a guard test here: a rule without one is unguarded.
// "Has a guard" is read from the code, not the text: the switch must be set to `true` in an object passed
// to a call made inside a live `it(...)` (not skipped), so a commented-out guard, a switch set to false or
// a scenario no test runs does not count.
import { readdirSync, readFileSync } from "node:fs";
import { unsafeSwitchNames } from "@palf/core";
import { kvUnsafeSwitchNames } from "@palf/kv";
import { describe, expect, it } from "vitest";
import { runKvChaos } from "../kv-sim/kv-chaos.ts";
import { KV_SIM_GUARDS } from "../kv-sim/kv-guards.test-support.ts";
import { switchesTurnedOn } from "./switches-turned-on.test-support.ts";

describe("guard coverage", () => {
  it("every UnsafeSwitches field is turned on for a run by some live guard test", () => {
    const dir = new URL(".", import.meta.url);
    const on = new Set<string>();
    for (const f of readdirSync(dir).filter((f) => f.endsWith(".test.ts") && f !== "coverage.test.ts")) {
      for (const name of switchesTurnedOn(readFileSync(new URL(f, dir), "utf8"), f)) on.add(name);
    }
    const unguarded = unsafeSwitchNames.filter((name) => !on.has(name));
    expect(unguarded).toEqual([]);
  });

  // The store's switches are read through kvUnsafeOn, which records each one consulted while on: a guard
  // whose run never reaches the switched code does not count, whatever its text says.
  it("every KvUnsafeSwitches field has a store-simulator guard whose run consults it", {
    timeout: 600_000,
  }, async () => {
    const notRun: string[] = [];
    for (const name of kvUnsafeSwitchNames) {
      const g = KV_SIM_GUARDS.find((x) => x.name === name);
      if (g === undefined) {
        notRun.push(`${name}: no guard`);
        continue;
      }
      const r = await runKvChaos({ seed: g.seed, unsafe: { [name]: true } });
      if (!r.consulted.includes(name)) notRun.push(`${name}: seed ${g.seed} never consulted it`);
    }
    expect(notRun).toEqual([]);
  });

  it("does not count a commented-out guard, a switch set to false, a skipped test or a scenario no test runs", () => {
    const source = `
      const unused = () => scriptGuard({ inHelper: true }, [1], /x/, run);
      describe("g", () => {
        it("live", () => {
          // scriptGuard({ commentedLine: true }, [1], /x/, run);
          /* chaosGuard({ commentedBlock: true }, {}, 1, 2, /x/); */
          scriptGuard({ off: false, live: true }, [1], /x/, run);
          runNodeChaos({ seed: 1, replicaUnsafe: { nested: true } });
        });
        it.skip("skipped", () => scriptGuard({ skipped: true }, [1], /x/, run));
      });
      describe.skip("skipped block", () => { it("x", () => scriptGuard({ skippedBlock: true }, [1], /x/, run)); });
    `;
    expect([...switchesTurnedOn(source)].sort()).toEqual(["live", "nested"]);
  });
});
