// kill -9 during WAL segment rotation: palfd runs with 64 KiB segments, so under load each shard WAL
// moves to a new segment file many times a second. A seeded schedule kills a node several times, either
// at a random moment or right as a new segment file appears in its WAL directory (inotify), and restarts
// it each time. The node must recover from its WAL on its own, catch up, and every node must end with
// the same log holding every acknowledged append.
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  AckLog,
  appendToEveryGroup,
  assertLoadErrorsExplained,
  assertNothingLost,
  faultSuite,
  sleep,
  startLoad,
  verifyNothingLost,
  waitFor,
} from "./fault-kit.test-support.ts";

const FILE = "kill9-rotation.test.ts";
const nodes = ["n1", "n2", "n3"];
const GROUPS = 24;
const LEASE_MS = 1000;
const SEGMENT_BYTES = 64 * 1024;
const KILLS = 5;
const suite = faultSuite(FILE, { nodes, groups: GROUPS, leaseMs: LEASE_MS, segmentBytes: SEGMENT_BYTES });
const { rng, replay } = suite;

/** The WAL directories of a node (one per shard). */
function walDirs(node: string): string[] {
  const dir = path.join(suite.cluster().dir, node);
  return fs
    .readdirSync(dir)
    .filter((d) => d.startsWith("shard-"))
    .map((d) => path.join(dir, d));
}

/** The highest segment generation in a node's WALs: generations only grow, one per new segment. */
function lastGeneration(node: string): number {
  let max = 0;
  for (const d of walDirs(node))
    for (const f of fs.readdirSync(d)) {
      const m = /^wal-(\d+)\.seg$/.exec(f);
      if (m) max = Math.max(max, Number(m[1]));
    }
  return max;
}

/** Resolves as soon as a new segment file shows up in one of the node's WAL dirs (or after `ms`). */
function nextSegment(node: string, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const watchers = walDirs(node).map((d) =>
      fs.watch(d, (_event, name) => {
        if (name && /^wal-\d+\.seg$/.test(String(name))) done(true);
      }),
    );
    const timer = setTimeout(() => done(false), ms);
    function done(seen: boolean) {
      clearTimeout(timer);
      for (const w of watchers) w.close();
      resolve(seen);
    }
  });
}

describe("kill -9 during WAL segment rotation", () => {
  it("recovers on its own, catches up, and loses nothing acknowledged", async () => {
    suite.watchFailure();
    const fc = suite.cluster();
    const acks = new AckLog();
    const size = rng.int(200, 700);
    const client = await fc.client({ requestTimeoutMs: LEASE_MS, appendTimeoutMs: 30_000 });
    const load = startLoad(client, acks, { groups: GROUPS, loops: 3 * GROUPS, size, phase: 1 });
    await waitFor("the load commits", () => acks.count >= 300, 30_000);

    const kills: string[] = [];
    for (let k = 1; k <= KILLS; k++) {
      const victim = rng.pick(nodes);
      const onRotation = rng.chance(0.5);
      const delay = rng.int(0, 1200);
      const genBefore = lastGeneration(victim);
      await sleep(delay);
      // Either right as a segment file is created (plus 0-3 ms), or wherever the random delay ended.
      const seen = onRotation ? await nextSegment(victim, 10_000) : false;
      if (seen) await sleep(rng.int(0, 4));
      await fc.cluster.kill(victim);
      const genAtKill = lastGeneration(victim);
      kills.push(
        `${victim}${seen ? " at a new segment" : ""} after ${delay} ms (segments ${genBefore}->${genAtKill})`,
      );
      try {
        await fc.cluster.startNode(victim);
      } catch (err) {
        throw new Error(
          `${victim} did not recover on its own after kill ${k} (${replay}): ${(err as Error).message}\n${fc.logTail(victim)}`,
        );
      }
      // The next kill comes under load again: every group led, appends committing, segments rotating.
      await fc.waitAllLed(nodes, 45_000);
      const ackedNow = acks.count;
      const gens = new Map(nodes.map((n) => [n, lastGeneration(n)]));
      await waitFor(
        "the load commits and every WAL rotates after the restart",
        () => acks.count >= ackedNow + 100 && nodes.every((n) => lastGeneration(n) >= gens.get(n)! + 3),
        30_000,
      );
    }

    const result = await load.stop();
    await appendToEveryGroup(await fc.client(), fc.groups, acks, 2);
    const report = await verifyNothingLost({ probe: fc.probe, nodes, groups: fc.groups, acks });
    const segments = nodes.map((n) => `${n}:${lastGeneration(n)}`).join(" ");
    console.log(
      `[faults] ${FILE}: kills ${kills.join("; ")}; segments written ${segments}; acked ${report.acked}, ` +
        `compared ${report.entries} entries; load errors ${JSON.stringify(result.errors)}`,
    );
    assertNothingLost(report, replay);
    assertLoadErrorsExplained(result.errors, replay);
    // The premise: the WALs really did rotate many times on every node.
    for (const n of nodes) expect(lastGeneration(n), `${n} segments`).toBeGreaterThan(3 * KILLS);
  }, 120_000);
});
