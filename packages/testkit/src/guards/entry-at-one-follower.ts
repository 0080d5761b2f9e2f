// Scenarios shared by guards: a leader's entry reaches one follower only, then something happens to the leader.
import type { Replica, ReplicaId } from "@palf/core";
import { expect } from "vitest";
import { Script, scriptOptions, type Unsafe } from "./harness.ts";

const INJECTED = "injected write error";

/** The cluster right after leader A's entry Z reached B alone. */
export interface EntryAtOneFollower {
  readonly s: Script;
  readonly A: Replica;
  readonly B: ReplicaId;
  readonly C: ReplicaId;
  /** End of Z in A's log. */
  readonly zEnd: number;
}

/**
 * Leader A commits two entries, then appends Z, which reaches B (pushes and commit info to C are lost);
 * returns once B holds Z, within 40 ms. With `slowLeaderSync`, A's own fsyncs lag by 50 ms, so its write of
 * Z is not durable yet at that point. The drop rule is cleared before returning.
 */
export function entryAtOneFollower(
  seed: number,
  unsafe: Unsafe | undefined,
  slowLeaderSync: boolean,
): EntryAtOneFollower {
  const s = new Script(scriptOptions(seed, unsafe));
  const A = s.leader();
  const [B, C] = s.ids().filter((id) => id !== A.self) as [string, string];
  s.append(A.self, 2, 40);
  s.until(() => A.committedEnd >= A.log.end, 2000);
  if (slowLeaderSync) s.sim.syncLagMs.set(A.self, 50);
  s.drop((m) => (m.type === "push" || m.type === "commitInfo") && m.from === A.self && m.to === C);
  expect(s.append(A.self, 1, 100), `seed ${seed}: Z`).toBe(1);
  const zEnd = A.log.end;
  expect(
    s.until(() => (s.replica(B)?.log.end ?? 0) >= zEnd, 40, 0.05),
    `seed ${seed}: Z reached B`,
  ).toBe(true);
  s.drop(undefined);
  return { s, A, B, C, zEnd };
}

/**
 * Z reaches B before A's own write of it is durable; then A's write fails. With `thenAppend`, A is asked for
 * W, of Z's size, right after. A leader that follows the rules leaves service (that halt is the expected
 * outcome and not reported), and B or C leads on and commits Z from B's copy. Returns every other violation
 * the checkers saw.
 */
export function failedWrite(seed: number, unsafe: Unsafe | undefined, thenAppend: boolean): string[] {
  const { s, A, zEnd } = entryAtOneFollower(seed, unsafe, true);
  expect(A.durableEnd, `seed ${seed}: A's write of Z is not durable yet`).toBeLessThan(zEnd);
  A.fail(INJECTED);
  s.sim.syncLagMs.clear();
  if (thenAppend) s.append(A.self, 1, 100);
  s.run(3000);
  return s.finish().filter((v) => !v.includes(`storage failure: ${INJECTED}`));
}
