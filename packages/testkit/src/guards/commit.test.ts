// Rule "Commit only your own pid" (DESIGN.md): nothing counts as committed until the leader's StartWorking is
// durable on a majority; entries a candidate fetched or holds from an older pid are committed by StartWorking,
// never by counting their copies (Raft's figure 8).
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
 * Figure 8 with three replicas. A (pid p) is cut off and appends X (> one push of entries) that only it holds.
 * L is elected by L and M, but its StartWorking (pid q > p) stays on L alone, and L goes down. A comes back and
 * stands with M: A's own log wins (pid p, longest), A's StartWorking is held back from M, but the first pushes
 * of X reach M, so X's start is on a majority (A and M). A goes down, L comes back: L's log has the higher
 * last pid, so the next leader takes it and X is gone. Counting X's copies would have committed it.
 */
function figure8(seed: number, unsafe: Unsafe | undefined): string[] {
  const s = new Script(scriptOptions(seed, unsafe));
  const A = s.leader();
  s.append(A.self, 2, 40);
  s.run(100);
  s.sim.partition([A.self]);
  expect(s.append(A.self, 60, 200), `seed ${seed}: X`).toBeGreaterThan(40);
  s.run(100);
  const xEnd = A.log.end;
  const others = s.ids().filter((id) => id !== A.self);
  // L's StartWorking leaves nobody but L.
  s.drop((m) => m.type === "push" && others.includes(m.from) && carriesConfig(m));
  const durableCandidate = () =>
    others.find((id) => {
      const r = s.replica(id);
      return (
        r?.role === "candidate" && r.reconfirmation?.phase === "startWorking" && r.durableEnd >= r.log.end
      );
    });
  expect(
    s.until(() => durableCandidate() !== undefined, 20_000),
    `seed ${seed}: L stuck`,
  ).toBe(true);
  const L = durableCandidate()!;
  const M = others.find((id) => id !== L)!;
  s.sim.crash(L);
  s.sim.heal();
  // A stands with M; its StartWorking never reaches M, but X's first pushes do.
  s.replica(A.self)!.setPriority(3);
  s.replica(M)!.setPriority(-1);
  s.drop((m) => m.type === "push" && m.from === A.self && m.to === M && carriesConfig(m) && m.prevLsn < xEnd);
  const mStart = s.replica(M)!.log.end;
  const got = s.until(() => {
    const m = s.replica(M)!;
    return m.log.end > mStart && m.durableEnd >= m.log.end;
  }, 20_000);
  expect(got, `seed ${seed}: M got part of X`).toBe(true);
  s.run(10);
  s.sim.crash(A.self);
  s.drop(undefined);
  s.sim.restart(L);
  s.replica(M)!.setPriority(0);
  s.run(10_000);
  return s.finish();
}

describe("guard: commit only your own pid", () => {
  it(
    "copies of an older pid's entries are not counted before StartWorking commits (commitBeforeStartWorking), seeds 1..10",
    () => {
      // First catching seed when written: 1.
      const seed = scriptGuard(
        { commitBeforeStartWorking: true },
        range(1, 10),
        /state machine safety|leader completeness|below the committed end|reported committed but/,
        figure8,
      );
      expect(seed).toBeGreaterThan(0);
    },
    GUARD_TIMEOUT,
  );
});
