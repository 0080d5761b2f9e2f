import type { CommittedAppend, ReadEntry } from "@palf/client";
import { describe, expect, it } from "vitest";
import { NodeSim, SIM_LEASE } from "./node-sim.ts";
import { simClient } from "./sim-process.ts";

/** One seeded run: the real SDK appends 30 entries to group 1 through a crash of its leader, then reads them. */
async function appendThroughCrash(seed: number) {
  const sim = new NodeSim({ seed, nodes: 3, groups: 2 });
  for (const id of sim.hosts.keys()) sim.start(id);
  const c = simClient(sim, "c1", { appendTimeoutMs: 20_000, maxAttempts: 100 });
  const results: Array<CommittedAppend | string> = [];
  const times: number[] = [];
  sim.sched.at(SIM_LEASE.leaseMs * 2, () => {
    for (let i = 0; i < 30; i++) {
      c.client
        .group(1)
        .append(`entry ${i}`)
        .then(
          (r) => {
            results[i] = r;
            times[i] = sim.sched.now;
          },
          (e: Error) => {
            results[i] = e.message;
          },
        );
    }
  });
  // Kill the group's leader right after the appends went out: the SDK must find the next one and retry.
  sim.sched.at(SIM_LEASE.leaseMs * 2 + 1, () => {
    const leader = sim.leaderOf(1);
    if (leader !== undefined) sim.crash(leader);
  });
  await sim.sched.run(SIM_LEASE.leaseMs * 10);
  let entries: ReadEntry[] | undefined;
  sim.sched.at(sim.sched.now, () => {
    void (async () => {
      const out: ReadEntry[] = [];
      for await (const e of c.client.group(1).entries(0)) out.push(e);
      entries = out;
    })();
  });
  await sim.sched.run(sim.sched.now + 5000);
  await c.close();
  sim.collectInfraViolations();
  return { sim, c, results, times, entries };
}

describe("the real client SDK inside the whole-node simulator", () => {
  it("appends commit once each through a leader crash, on the simulated clock, and read back in order", {
    timeout: 120_000,
  }, async () => {
    const { sim, c, results, times, entries } = await appendThroughCrash(5);
    expect(sim.counts.crashes).toBe(1);
    expect(results).toHaveLength(30);
    for (const r of results) expect(r).toHaveProperty("lsn");
    // Virtual times: every append answered after it was issued and within the run's virtual span.
    for (const t of times) expect(t).toBeGreaterThanOrEqual(SIM_LEASE.leaseMs * 2);
    expect(c.runtime.now()).toBeGreaterThan(sim.sched.now * 0.99);
    const payloads = (entries ?? []).map((e) => Buffer.from(e.payload).toString());
    const ours = payloads.filter((p) => p.startsWith("entry "));
    // Each append exactly once in the log (the SDK's retries were recognised), at the LSN it was told.
    expect(new Set(ours).size).toBe(30);
    expect(ours).toHaveLength(30);
    for (const [i, r] of results.entries()) {
      const lsn = (r as CommittedAppend).lsn;
      expect(Buffer.from(entries!.find((e) => e.lsn === lsn)!.payload).toString()).toBe(`entry ${i}`);
    }
    expect(sim.violations).toEqual([]);
  });

  it("replays exactly: one seed run twice gives the same answers at the same virtual times", {
    timeout: 120_000,
  }, async () => {
    const a = await appendThroughCrash(9);
    const b = await appendThroughCrash(9);
    expect(b.results).toEqual(a.results);
    expect(b.times).toEqual(a.times);
    expect(b.sim.sched.trace.value).toBe(a.sim.sched.trace.value);
    expect(b.c.client.sessionId).toBe(a.c.client.sessionId);
  });
});
