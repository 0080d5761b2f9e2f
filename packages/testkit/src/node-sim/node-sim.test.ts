import { describe, expect, it } from "vitest";
import { runNodeChaos } from "./node-chaos.ts";
import { NodeSim, SIM_LEASE } from "./node-sim.ts";

describe("whole-node simulator (real PalfNode on simulated disks and network)", () => {
  it("replays a seed exactly: two runs give the same trace digest (event times and every SDK client's history) and summary", {
    timeout: 300_000,
  }, async () => {
    // The clients are real PalfClients on simulated processes: their batching turns, backoff jitter, session
    // ids and timeouts come from the simulator's runtime, so the history they record is the same every run.
    const a = await runNodeChaos({ seed: 11, chaosMs: 6000 });
    const b = await runNodeChaos({ seed: 11, chaosMs: 6000 });
    expect(b).toEqual(a);
    expect(a.violations).toEqual([]);
    expect(a.committed).toBeGreaterThan(100);
    expect(a.linearizableReads).toBeGreaterThan(10);
  });

  it("the commit-info delay reaches every node: with 100 ms fewer peer frames per committed append than with 0", {
    timeout: 300_000,
  }, async () => {
    const run = (commitInfoDelayMs: number) =>
      runNodeChaos({ seed: 11, chaosMs: 4000, membership: "never", recreate: "never", commitInfoDelayMs });
    const atOnce = await run(0);
    const delayed = await run(100);
    expect([atOnce.violations, delayed.violations]).toEqual([[], []]);
    expect(delayed.commitInfoDelayMs).toBe(100);
    expect(delayed.frames / delayed.committed).toBeLessThan(atOnce.frames / atOnce.committed);
  });

  it("a node whose fdatasync fails stops and recovers from its WAL; nobody retries the fsync", {
    timeout: 120_000,
  }, async () => {
    const sim = new NodeSim({ seed: 3, nodes: 3, groups: 2 });
    for (const id of sim.hosts.keys()) sim.start(id);
    await sim.sched.run(SIM_LEASE.leaseMs * 3);
    const leader = sim.leaderOf(1);
    expect(leader).toBeDefined();
    // Give the leader something to write, then fail its next sync.
    sim.failNextSync(leader!);
    const node = sim.hosts.get(leader!)!.life!.node!;
    node.handle({ op: "append", group: 1, items: [{ payload: Buffer.from("x") }] }).catch(() => {});
    await sim.sched.run(sim.sched.now + 5000);
    expect(sim.counts.fatal).toBe(1);
    expect(sim.counts.crashes).toBe(1); // the process exited
    await sim.sched.run(sim.sched.now + SIM_LEASE.leaseMs * 5);
    expect(sim.up(leader!)).toBe(true); // restarted, recovered
    expect(sim.leaderOf(1)).toBeDefined();
    sim.collectInfraViolations();
    expect(sim.violations).toEqual([]);
  });

  it("a node stopped by a failed fsync but left running (onFatal ignored) lets its groups elect new leaders", {
    timeout: 120_000,
  }, async () => {
    // Regression (seed 3): PalfNode.fatal stopped the shards but not the lease hub, which went on renewing
    // the dead leaders' leases, so their groups stayed leaderless for as long as the process lived.
    const sim = new NodeSim({ seed: 3, nodes: 3, groups: 2, onFatal: "stay" });
    for (const id of sim.hosts.keys()) sim.start(id);
    await sim.sched.run(SIM_LEASE.leaseMs * 3);
    const leader = sim.leaderOf(1)!;
    expect(leader).toBeDefined();
    sim.failNextSync(leader);
    const node = sim.hosts.get(leader)!.life!.node!;
    node.handle({ op: "append", group: 1, items: [{ payload: Buffer.from("x") }] }).catch(() => {});
    await sim.sched.run(sim.sched.now + 1000);
    expect(sim.counts.fatal).toBe(1);
    expect(sim.up(leader)).toBe(true); // still running, shards stopped
    await sim.sched.run(sim.sched.now + SIM_LEASE.leaseMs * 3);
    const next = sim.leaderOf(1);
    expect(next).toBeDefined();
    expect(next).not.toBe(leader);
  });

  // Seed 451 found it: a client retried append 451006:22 for 5 s through crashes while advanceBase recycled
  // the LSN where its first attempt had committed; a restarted leader rebuilt its session table from the log
  // above the base, took the retry as new and committed it twice. Resends after an unknown outcome are now
  // marked as retries, and a leader whose log was recycled answers INDETERMINATE for one it cannot find.
  it("seed 451: a retry of an append recycled below the base is not committed twice", {
    timeout: 120_000,
  }, async () => {
    const r = await runNodeChaos({ seed: 451 });
    expect(r.violations).toEqual([]);
  });

  // Seed 132 (3 groups, 15 s of chaos) found it once the simulator reported its core checkers: a candidate
  // truncated its recovered, uncommitted tail and rewrote it; as leader it counted the old tail's durable end
  // as its own before the truncation was durable, and committed into the middle of a new group entry with
  // one durable copy. The durable gate now caps the durable end at a truncation until it is durable.
  it("seed 132: a leader never counts a truncated tail as durable (no commit point inside an entry)", {
    timeout: 120_000,
  }, async () => {
    const r = await runNodeChaos({ seed: 132, groups: 3, chaosMs: 15_000 });
    expect(r.violations).toEqual([]);
  });
  // Seeds 141 and 156 (3 groups, 15 s of chaos): a leader whose lease could rest on no quorum at all (after
  // setReplicaNum 4 on three members, one of which never granted it) had its lease end at -Infinity; the
  // replica dropped that deadline as "none", so the leader never ticked to step down and, its followers kept
  // quiet by its renewals, the group had no serving leader for ten seconds. An overdue deadline now wakes it.
  it("seeds 141 and 156: a leader whose lease ends with no quorum steps down at once (the group gets a leader)", {
    timeout: 120_000,
  }, async () => {
    const a = await runNodeChaos({ seed: 141, groups: 3, chaosMs: 15_000, commitInfoDelayMs: 100 });
    const b = await runNodeChaos({ seed: 156, groups: 3, chaosMs: 15_000, commitInfoDelayMs: 72 });
    expect([a.violations, b.violations]).toEqual([[], []]);
  });
});
