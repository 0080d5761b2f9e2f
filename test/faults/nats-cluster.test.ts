// A 3-server NATS cluster (routes on loopback) under 3 palfd processes and an append load; every palfd and
// the client know every server URL. Each nats-server in turn is killed under load: appends must keep being
// acknowledged through the other two, nothing acknowledged may be lost, and the longest pause between two
// acknowledgements around the kill is measured and printed.
import { describe, expect, it } from "vitest";
import {
  AckLog,
  assertNothingLost,
  faultSuite,
  sleep,
  startLoad,
  verifyNothingLost,
  waitFor,
} from "./fault-kit.test-support.ts";

const FILE = "nats-cluster.test.ts";
const nodes = ["n1", "n2", "n3"];
const GROUPS = 30;
const suite = faultSuite(FILE, { nodes, groups: GROUPS, leaseMs: 1000, shards: 2, natsServers: 3 });
const { rng, replay } = suite;

describe("a nats-server of a 3-server NATS cluster killed under load", () => {
  it("keeps acknowledging appends through the others and loses nothing acknowledged", async () => {
    suite.watchFailure();
    const fc = suite.cluster();
    const nats = fc.cluster.natsCluster!;
    expect(nats.urls).toHaveLength(3);
    const acks = new AckLog();
    const client = await fc.client({ requestTimeoutMs: 1000, appendTimeoutMs: 30_000 });
    const load = startLoad(client, acks, { groups: GROUPS, loops: 32, size: rng.int(32, 256), phase: 1 });
    await waitFor("the load commits", () => acks.count >= 300, 30_000);

    // The longest stretch without a new acknowledgement, watched from a little before the kill.
    let lastCount = acks.count;
    let lastAt = performance.now();
    let pauseMs = 0;
    const watch = setInterval(() => {
      const now = performance.now();
      if (acks.count !== lastCount) {
        pauseMs = Math.max(pauseMs, now - lastAt);
        lastCount = acks.count;
        lastAt = now;
      }
    }, 10);
    await sleep(500);
    // Each server in turn (so also the ones the client and every palfd are connected to), starting at a
    // seeded one; a killed server comes back before the next kill, so two are always up.
    const first = rng.int(0, 3);
    for (let k = 0; k < 3; k++) {
      const victim = (first + k) % 3;
      const atKill = acks.count;
      await nats.kill(victim);
      await waitFor(
        `appends acknowledged through the other servers after killing server ${victim}`,
        () => acks.count >= atKill + 300,
        60_000,
      );
      await nats.restart(victim);
    }
    clearInterval(watch);
    pauseMs = Math.max(pauseMs, performance.now() - lastAt);
    const stats = await load.stop();
    console.log(
      `[faults] ${FILE}: killed each nats-server in turn; longest pause between acks ${Math.round(pauseMs)} ms; acked ${acks.count}; errors ${JSON.stringify(stats.errors)}`,
    );
    const report = await verifyNothingLost({ probe: fc.probe, nodes, groups: fc.groups, acks });
    assertNothingLost(report, replay);
  }, 180_000);
});
