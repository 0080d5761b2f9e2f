// SIGSTOP the node leading the most groups for about three leases while appends run to 50 groups, then
// SIGCONT it. A frozen leader does not know its lease ran out: when it runs again, its stale leaderships
// must not acknowledge anything that the new leaders' logs do not hold. Raw appends addressed to it just
// before and during the freeze are answered once it runs; whatever it acknowledges is checked too.

import { rpc } from "@palf/harness";
import { describe, expect, it } from "vitest";
import {
  AckLog,
  appendToEveryGroup,
  assertLoadErrorsExplained,
  assertNothingLost,
  EXPLAINED_ERRORS,
  faultSuite,
  payloadOf,
  sleep,
  startLoad,
  verifyNothingLost,
  waitFor,
} from "./fault-kit.test-support.ts";

const FILE = "sigstop.test.ts";
const nodes = ["n1", "n2", "n3"];
const GROUPS = 50;
const LEASE_MS = 1000;
const suite = faultSuite(FILE, { nodes, groups: GROUPS, leaseMs: LEASE_MS, shards: 2 });
const { rng, replay } = suite;

describe("SIGSTOP a leader for three leases under load", () => {
  it("loses nothing acknowledged, and every group is led and appendable after SIGCONT", async () => {
    suite.watchFailure();
    const fc = suite.cluster();
    const acks = new AckLog();
    const size = rng.int(32, 300);
    // Requests to the frozen node time out after one lease and are retried (same session seq) elsewhere.
    const client = await fc.client({ requestTimeoutMs: LEASE_MS, appendTimeoutMs: 30_000 });
    const load = startLoad(client, acks, { groups: GROUPS, loops: 2 * GROUPS, size, phase: 1 });
    await waitFor("the load commits", () => acks.count >= 300, 30_000);

    const victim = await fc.topLeader();
    const alive = nodes.filter((n) => n !== victim.node);

    // Appends addressed to the victim itself for the groups it leads, answered only once it is running
    // again: one wave sent just before the freeze (some reach its leaders and are in flight, issued but
    // not committed, when it stops), one while it is frozen (they wait in its socket and reach its stale
    // leaders first thing after SIGCONT). Whatever it acknowledges must be in the final logs.
    const staleAnswers: Record<string, number> = {};
    const probeVictim = (wave: number) =>
      victim.groups.map(async (g, i) => {
        const payload = payloadOf(g, 8 + wave, i, 40);
        const res = await rpc(
          fc.probe,
          victim.node,
          { op: "append", group: g, items: [{ payload }] },
          30_000,
        );
        let outcome: string;
        if (!res.ok) outcome = res.error.code;
        else if (res.op !== "append") outcome = res.op;
        else {
          const r = res.results[0]!;
          if ("lsn" in r) {
            acks.add(g, r.lsn, payload, `${victim.node} wave ${wave}`);
            outcome = "acknowledged";
          } else outcome = r.error.code;
        }
        const key = `wave ${wave} ${outcome}`;
        staleAnswers[key] = (staleAnswers[key] ?? 0) + 1;
      });
    const ackedBefore = acks.count;
    const stale = probeVictim(1);
    await fc.probe.flush();
    await sleep(rng.int(0, 5));
    fc.cluster.pause(victim.node);
    const pausedAt = Date.now();
    stale.push(...probeVictim(2));

    // About three leases, and at least until the other two lead every group (so the frozen leaderships
    // really are stale when it wakes up).
    await sleep(3 * LEASE_MS + rng.int(0, LEASE_MS));
    await fc.waitAllLed(alive, 45_000);
    const ackedWhilePaused = acks.count - ackedBefore;
    fc.cluster.resume(victim.node);
    const pausedMs = Date.now() - pausedAt;

    await fc.waitAllLed(nodes, 45_000);
    await fc.waitOneLeaderEach(45_000);
    const ackedAtResume = acks.count;
    await waitFor("the load commits after SIGCONT", () => acks.count >= ackedAtResume + 300, 30_000);
    const result = await load.stop();
    await Promise.all(stale);

    // Appends keep working: one more per group through a fresh client.
    await appendToEveryGroup(await fc.client(), fc.groups, acks, 2);

    const report = await verifyNothingLost({ probe: fc.probe, nodes, groups: fc.groups, acks });
    console.log(
      `[faults] ${FILE}: paused ${victim.node} (led ${victim.groups.length}/${GROUPS}) for ${pausedMs} ms; ` +
        `acked ${report.acked} (${ackedWhilePaused} while paused), compared ${report.entries} entries; ` +
        `appends sent to it ${JSON.stringify(staleAnswers)}; load errors ${JSON.stringify(result.errors)}`,
    );
    assertNothingLost(report, replay);
    assertLoadErrorsExplained(result.errors, replay);
    expect(victim.groups.length).toBeGreaterThan(0);
    // Every append sent to the frozen node was answered (or timed out) once, and each answer is an ack
    // (checked against the logs above) or a refusal the freeze explains.
    const answers = Object.values(staleAnswers).reduce((a, b) => a + b, 0);
    expect(answers, replay).toBe(2 * victim.groups.length);
    const unexplained = Object.keys(staleAnswers).filter((key) => {
      const outcome = key.replace(/^wave \d+ /, "");
      return outcome !== "acknowledged" && !EXPLAINED_ERRORS.has(outcome);
    });
    expect(unexplained, `${JSON.stringify(staleAnswers)} ${replay}`).toEqual([]);
  }, 120_000);
});
