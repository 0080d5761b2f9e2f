// A scenario shared by two guards: a leader's entry leaves for one follower, then its own write of it fails.
import { expect } from "vitest";
import { Script, scriptOptions, type Unsafe } from "./harness.ts";

const INJECTED = "injected write error";

/**
 * Leader A appends Z, which reaches B (the push to C is lost) before A's own write of it is durable; then A's
 * write fails. With `thenAppend`, A is asked for W, of Z's size, right after. A leader that follows the rules
 * leaves service (that halt is the expected outcome and not reported), and B or C leads on and commits Z from
 * B's copy. Returns every other violation the checkers saw.
 */
export function failedWrite(seed: number, unsafe: Unsafe | undefined, thenAppend: boolean): string[] {
  const s = new Script(scriptOptions(seed, unsafe));
  const A = s.leader();
  const [B, C] = s.ids().filter((id) => id !== A.self) as [string, string];
  s.append(A.self, 2, 40);
  s.until(() => A.committedEnd >= A.log.end, 2000);
  s.sim.syncLagMs.set(A.self, 50);
  s.drop((m) => m.type === "push" && m.from === A.self && m.to === C);
  expect(s.append(A.self, 1, 100), `seed ${seed}: Z`).toBe(1);
  expect(
    s.until(() => (s.replica(B)?.log.end ?? 0) >= A.log.end, 40, 0.05),
    `seed ${seed}: Z reached B`,
  ).toBe(true);
  expect(A.gate.durableEnd, `seed ${seed}: A's write of Z is not durable yet`).toBeLessThan(A.log.end);
  A.fail(INJECTED);
  s.drop(undefined);
  s.sim.syncLagMs.clear();
  if (thenAppend) s.append(A.self, 1, 100);
  s.run(3000);
  return s.finish().filter((v) => !v.includes(`storage failure: ${INJECTED}`));
}
