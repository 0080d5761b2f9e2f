// Rule "`failed` is reported only when a committed end of a higher pid covers the entry and the entry there
// differs" (DESIGN.md). Merely truncated is not enough: the truncating leader can die before its StartWorking
// commits, and the entry can still be committed from another replica's copy.
import { describe, expect, it } from "vitest";
import {
  carriesConfig,
  GUARD_TIMEOUT,
  range,
  Script,
  scriptGuard,
  scriptOptions,
  type Unsafe,
} from "./harness.ts";

/**
 * Five replicas. Leader A's entry X reaches only B. C, D and E elect L, whose StartWorking reaches only A: A
 * truncates X. L dies before its StartWorking commits; B leads the others and commits X from its own copy.
 */
function truncatedThenCommitted(seed: number, unsafe: Unsafe | undefined): string[] {
  const s = new Script(scriptOptions(seed, unsafe, { replicas: 5, nodes: 5 }));
  const A = s.leader();
  const B = s.ids().find((id) => id !== A.self)!;
  const rest = s.ids().filter((id) => id !== A.self && id !== B);
  s.append(A.self, 2, 40);
  s.run(100);
  s.drop((m) => m.type === "push" && m.from === A.self && m.to !== B);
  expect(s.append(A.self, 2, 40), `seed ${seed}: X`).toBe(2);
  s.run(50);
  s.sim.partition([A.self, B]);
  // Whoever of C, D, E stands, its StartWorking stays off the others.
  s.drop((m) => m.type === "push" && rest.includes(m.from) && rest.includes(m.to) && carriesConfig(m));
  const stuck = () =>
    rest.find((id) => {
      const r = s.replica(id);
      return (
        r?.role === "candidate" && r.reconfirmation?.phase === "startWorking" && r.durableEnd >= r.log.end
      );
    });
  expect(
    s.until(() => stuck() !== undefined, 20_000),
    `seed ${seed}: L`,
  ).toBe(true);
  const L = stuck()!;
  // L reaches A alone: A takes L's StartWorking in place of X.
  s.sim.faults.blocked.delete(`${L}>${A.self}`);
  s.sim.faults.blocked.delete(`${A.self}>${L}`);
  const pidL = s.replica(L)!.myPid;
  expect(
    s.until(() => A.log.lastPid === pidL, 3000),
    `seed ${seed}: A took L's StartWorking`,
  ).toBe(true);
  s.run(50);
  s.sim.crash(L);
  s.drop(undefined);
  s.sim.heal();
  s.sim.partition([A.self]);
  s.replica(B)!.setPriority(3);
  s.leader(1, [B]);
  s.run(2000);
  return s.finish();
}

describe("guard: failed only when a higher pid's committed log holds something else", () => {
  it(
    "an entry merely truncated is not failed (failOnTruncate), seeds 1..10",
    () => {
      // First catching seed when written: 1.
      const seed = scriptGuard(
        { failOnTruncate: true },
        range(1, 10),
        /reported failed but was committed/,
        truncatedThenCommitted,
      );
      expect(seed).toBeGreaterThan(0);
    },
    GUARD_TIMEOUT,
  );
});
