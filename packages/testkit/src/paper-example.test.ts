// The example from the PALF paper (PVLDB 17(12), section on log reconfirmation): leader A issues log1, log2,
// log3; log2 reaches a majority (A and B) but A never learns it, log3 stays on A alone. A is cut off, C (which
// lacks log2) wins the election, reconfirms log2 by fetching it from B and commits it with its StartWorking
// entry. When A comes back it is a pendingFollower until every append it issued has its explicit result:
// log2 `committed` (it is in the new leader's committed log), log3 `failed` (C's higher pid holds something
// else at its LSN). Driven by hand, no random faults; the seed only sets clocks, delays and jitter.
import { EntryKind, type GroupEntryResult, type ReplicaEvent } from "@palf/core";
import { describe, expect, it } from "vitest";
import type { AppendRecord } from "./checker.ts";
import { Simulation } from "./simulation.ts";

const GROUP = 1;

interface Seen {
  readonly at: number;
  readonly node: string;
  readonly event: ReplicaEvent;
}

function paperScenario(seed: number) {
  const events: Seen[] = [];
  const sim = new Simulation({
    seed,
    groups: 1,
    replicas: 3,
    nodes: 3,
    trace: (at, node, event) => events.push({ at, node, event }),
  });
  // The checker keeps its append records private: capture them as the simulator records them, and every
  // explicit result as it arrives (to count them).
  const appends: AppendRecord[] = [];
  const record = sim.checker.recordAppend.bind(sim.checker);
  sim.checker.recordAppend = (a) => {
    appends.push(a);
    record(a);
  };
  const results: Array<{ node: string; result: GroupEntryResult }> = [];
  const onResult = sim.checker.onResult.bind(sim.checker);
  sim.checker.onResult = (node, result) => {
    results.push({ node, result });
    onResult(node, result);
  };

  let t = 0;
  const runTo = (until: number) => {
    t = until;
    sim.run(t);
  };
  while (!sim.leaderOf(GROUP) && t < 20_000) runTo(t + 50);
  const leader = sim.leaderOf(GROUP);
  expect(leader, `seed ${seed}: no leader elected`).toBeDefined();
  const A = leader!.self;
  const [B, C] = [...sim.nodes.keys()].filter((n) => n !== A) as [string, string];
  const rA = () => sim.replica(A, GROUP)!;
  const rB = () => sim.replica(B, GROUP)!;
  const rC = () => sim.replica(C, GROUP)!;
  const pidA = rA().myPid;

  // log1 reaches everyone and commits.
  expect(sim.append(GROUP, A, 32), `seed ${seed}: log1 refused`).toBe(true);
  runTo(t + 50);
  const log1 = appends[0]!;
  expect(log1.result, `seed ${seed}: log1`).toBe("committed");

  // log2 goes to B only, and B's ack never reaches A: A cannot know log2 is on a majority.
  sim.faults.blocked.add(`${A}>${C}`);
  sim.faults.blocked.add(`${B}>${A}`);
  expect(sim.append(GROUP, A, 32), `seed ${seed}: log2 refused`).toBe(true);
  const log2 = appends[1]!;
  for (let i = 0; i < 400 && rB().durableEnd <= log2.lsn; i++) runTo(t + 0.5);
  expect(rB().durableEnd, `seed ${seed}: log2 never became durable on B`).toBeGreaterThan(log2.lsn);
  expect(rC().log.end, `seed ${seed}: C must not have log2`).toBeLessThanOrEqual(log2.lsn);

  // log3 stays on A alone.
  sim.faults.blocked.add(`${A}>${B}`);
  expect(sim.append(GROUP, A, 32), `seed ${seed}: log3 refused`).toBe(true);
  const log3 = appends[2]!;
  runTo(t + 20);
  expect(rB().log.end, `seed ${seed}: B must not have log3`).toBeLessThanOrEqual(log3.lsn);
  expect(log2.result, `seed ${seed}: A cannot know log2's fate yet`).toBeUndefined();
  expect(log3.result, `seed ${seed}: A cannot know log3's fate yet`).toBeUndefined();

  // Cut A off. C is preferred; B is out of disk budget (not writable), so it does not stand for election.
  sim.partition([A]);
  rC().setPriority(10);
  rB().setWritable(false);
  const cutAt = t;
  runTo(t + 8000);
  const newLeader = sim.leaderOf(GROUP);
  expect(newLeader?.self, `seed ${seed}: C should lead`).toBe(C);
  const pidC = rC().myPid;
  expect(pidC, `seed ${seed}: C leads with a higher pid`).toBeGreaterThan(pidA);
  rB().setWritable(true);
  // Still partitioned: A holds both results back (no higher committed end has reached it).
  expect(log2.result, `seed ${seed}: log2 while A is cut off`).toBeUndefined();
  expect(log3.result, `seed ${seed}: log3 while A is cut off`).toBeUndefined();
  expect(rA().role, `seed ${seed}: A while cut off`).toBe("pendingFollower");

  // C reconfirmed log2 (fetched from B, kept A's pid) and committed it with its StartWorking entry.
  const cLog2 = rC().log.containing(log2.lsn);
  expect(cLog2?.pid, `seed ${seed}: C's log holds log2 under A's pid`).toBe(pidA);
  expect(rC().committedEnd, `seed ${seed}: C committed log2`).toBeGreaterThan(log2.lsn);
  // Log3's place in C's log holds C's StartWorking (pid C), not log3.
  expect(rC().log.containing(log3.lsn)?.pid, `seed ${seed}: what C holds at log3's LSN`).toBe(pidC);

  // A rejoins.
  sim.heal();
  runTo(t + 3000);
  expect(log1.result, `seed ${seed}: log1`).toBe("committed");
  expect(log2.result, `seed ${seed}: log2`).toBe("committed");
  expect(log3.result, `seed ${seed}: log3`).toBe("failed");
  // Exactly one explicit result per append.
  for (const a of [log1, log2, log3]) {
    const n = results.filter(
      (r) => r.node === A && r.result.pid === a.pid && r.result.from <= a.lsn && a.lsn < r.result.to,
    ).length;
    expect(n, `seed ${seed}: results for append at ${a.lsn}`).toBe(1);
  }

  // A's role history after the cut: leader -> pendingFollower -> follower, and only then.
  const rolesOfA = events
    .filter((e) => e.node === A && e.event.type === "role" && e.at >= cutAt - 2000)
    .map((e) => (e.event as Extract<ReplicaEvent, { type: "role" }>).role);
  expect(rolesOfA, `seed ${seed}: A's roles`).toContain("pendingFollower");
  expect(rolesOfA.at(-1), `seed ${seed}: A ends as follower`).toBe("follower");
  const pf = rolesOfA.indexOf("pendingFollower");
  expect(rolesOfA.slice(pf).includes("follower"), `seed ${seed}: follower after pendingFollower`).toBe(true);
  // A truncated log3 (as a pendingFollower, never as a leader).
  const truncs = events.filter((e) => e.node === A && e.event.type === "truncated");
  expect(truncs.length, `seed ${seed}: A truncates log3`).toBeGreaterThan(0);
  for (const e of truncs)
    expect((e.event as Extract<ReplicaEvent, { type: "truncated" }>).role).not.toBe("leader");
  // A's log now equals C's up to the committed end.
  expect(rA().log.containing(log3.lsn)?.pid, `seed ${seed}: A's log at log3's LSN`).toBe(pidC);

  // log2 reads back from C byte for byte; log3 does not exist anywhere.
  const read2 = rC().read(log2.lsn);
  expect(read2, `seed ${seed}: read log2 from C`).toBeDefined();
  expect(Buffer.compare(Buffer.from(read2!.payload), Buffer.from(log2.payload)), `seed ${seed}`).toBe(0);
  expect(read2!.csn, `seed ${seed}: log2's csn`).toBe(log2.csn);
  // What reads back at log3's LSN is C's StartWorking entry, never log3's bytes.
  const at3 = rC().read(log3.lsn);
  expect(at3?.kind, `seed ${seed}: C's entry at log3's LSN`).toBe(EntryKind.startWorking);
  expect(Buffer.compare(Buffer.from(at3!.payload), Buffer.from(log3.payload)), `seed ${seed}`).not.toBe(0);
  expect(rA().read(log2.lsn)?.csn, `seed ${seed}: A reads log2 too`).toBe(log2.csn);

  sim.checkLogs();
  sim.checker.finish(true);
  expect(sim.checker.violations, `seed ${seed}`).toEqual([]);
}

describe("paper example: a shorter log wins, reconfirms log2 from B, and log3 fails", () => {
  for (const seed of [1, 2, 3, 7]) {
    it(`seed ${seed}: log2 committed via C's StartWorking, log3 failed, A passes through pendingFollower`, () => {
      paperScenario(seed);
    });
  }
});
