// The nats-server restarts mid-run (stopped, down for a seeded 0.5-2.5 s, so longer than a lease, then
// started again on the same port) while appends run to 50 groups. Appends in flight may fail or time out;
// once NATS is back the same palfd processes (none restarted) must reconnect by themselves, lead every
// group again and take appends, and nothing acknowledged may be lost.
import { describe, expect, it } from "vitest";
import {
  AckLog,
  appendToEveryGroup,
  assertLoadErrorsExplained,
  assertNothingLost,
  faultSuite,
  startLoad,
  verifyNothingLost,
  waitFor,
} from "./fault-kit.test-support.ts";

const FILE = "nats-restart.test.ts";
const nodes = ["n1", "n2", "n3"];
const GROUPS = 50;
const LEASE_MS = 1000;
const suite = faultSuite(FILE, { nodes, groups: GROUPS, leaseMs: LEASE_MS, shards: 2 });
const { rng, replay } = suite;

describe("nats-server restart mid-run", () => {
  it("recovers without restarting any palfd: every group led, appends work, nothing acknowledged lost", async () => {
    suite.watchFailure();
    const fc = suite.cluster();
    const pids = new Map([...fc.cluster.procs].map(([n, p]) => [n, p.pid]));
    const acks = new AckLog();
    const size = rng.int(32, 300);
    const client = await fc.client({ requestTimeoutMs: LEASE_MS, appendTimeoutMs: 30_000 });
    const load = startLoad(client, acks, { groups: GROUPS, loops: 2 * GROUPS, size, phase: 1 });
    await waitFor("the load commits", () => acks.count >= 300, 30_000);

    const downMs = rng.int(500, 2500);
    const ackedBefore = acks.count;
    const t0 = Date.now();
    await fc.cluster.restartNats({ downMs });
    const restartMs = Date.now() - t0;

    await fc.waitAllLed(nodes, 45_000);
    const ledMs = Date.now() - t0;
    const ackedAtLed = acks.count;
    await waitFor("the load commits after the restart", () => acks.count >= ackedAtLed + 300, 30_000);
    const result = await load.stop();
    await appendToEveryGroup(await fc.client(), fc.groups, acks, 2);

    const report = await verifyNothingLost({ probe: fc.probe, nodes, groups: fc.groups, acks });
    console.log(
      `[faults] ${FILE}: NATS down ${downMs} ms (restart took ${restartMs} ms), every group led ${ledMs} ms ` +
        `after the stop; acked ${report.acked} (${ackedBefore} before), compared ${report.entries} entries; ` +
        `load errors ${JSON.stringify(result.errors)}`,
    );
    assertNothingLost(report, replay);
    assertLoadErrorsExplained(result.errors, replay);
    // The same processes, still running, each of which lost NATS and reconnected by itself.
    for (const [n, p] of fc.cluster.procs) {
      expect(p.pid, `${n} pid`).toBe(pids.get(n));
      expect(p.exitCode ?? p.signalCode, `${n} exit`).toBeNull();
      expect(fc.logTail(n, 10_000), `${n} log`).toContain('"status":"reconnect"');
    }
  }, 120_000);
});
