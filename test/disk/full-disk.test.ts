// A full disk is back-pressure, not an exit. Three palfd under load; n3's data dir is on a small filesystem
// (a 64 MiB tmpfs as root). A filler file takes its free space below n3's reserve: n3 must stay up, raise the
// NOSPACE alarm and hand its leaderships away while n1 and n2 keep acknowledging. n3 is then restarted while
// the disk is still full: it must come up (recover, alarm at once) instead of exiting. The filler is deleted:
// the alarm clears by itself, n3 catches up, and nothing acknowledged is lost on any node.
import fs from "node:fs";
import path from "node:path";
import { rpc } from "@palf/harness";
import { afterAll, describe, expect, it } from "vitest";
import {
  AckLog,
  appendToEveryGroup,
  assertLoadErrorsExplained,
  assertNothingLost,
  faultSuite,
  type RunningLoad,
  startLoad,
  verifyNothingLost,
  waitFor,
} from "../faults/fault-kit.test-support.ts";
import { fillUntil, freeBytes, smallFs } from "./small-fs.test-support.ts";

// faultSuite prints the replay line under test/faults/: this path leads from there to here.
const FILE = "../disk/full-disk.test.ts";
const nodes = ["n1", "n2", "n3"];
const GROUPS = 12;
const LEASE_MS = 1000;
const MiB = 1024 * 1024;
const small = smallFs(64, 16);
// Registered before the suite's own clean-up, so it runs after the cluster has stopped (hooks run as a stack).
afterAll(() => small.release());
const suite = faultSuite(FILE, {
  nodes,
  groups: GROUPS,
  leaseMs: LEASE_MS,
  segmentBytes: 1 * MiB,
  nodeArgs: (n) => (n === "n3" ? ["--disk-reserve-mb", String(small.reserveMb)] : []),
  prepare: (dir) => fs.symlinkSync(small.root, path.join(dir, "n3")),
});
const { rng, replay } = suite;

interface DiskView {
  alarm: "NOSPACE" | null;
  freeBytes: number | null;
  reserveBytes: number | null;
  refusedReservations: number;
}

async function nodeStatus(node: string): Promise<{ leaders: number; disk: DiskView | null } | undefined> {
  const res = await rpc(suite.cluster().probe, node, { op: "status" }, 3000);
  return res.ok && res.op === "status"
    ? (res.status as { leaders: number; disk: DiskView | null })
    : undefined;
}

/** kill -9 n3 (if alive) and start it again while its disk is full: it must come up, not exit. */
async function restartOnFullDisk(): Promise<void> {
  const fc = suite.cluster();
  const n3 = fc.cluster.procs.get("n3")!;
  if (n3.exitCode === null && n3.signalCode === null) await fc.cluster.kill("n3");
  try {
    await fc.cluster.startNode("n3");
  } catch (err) {
    throw new Error(
      `n3 did not come up on a full disk (${replay}): ${(err as Error).message}\n${fc.logTail("n3")}`,
    );
  }
}

/**
 * Deletes the filler; the alarm must clear by itself. Then stops the load, appends once more to every group and
 * checks that every node holds every acknowledged append. Returns a summary for the log line.
 */
async function freeAndVerify(
  filler: string,
  acks: AckLog,
  load: RunningLoad,
  phase: number,
): Promise<string> {
  const fc = suite.cluster();
  fs.rmSync(filler);
  await waitFor(
    "n3 clears the alarm",
    async () => (await nodeStatus("n3"))?.disk?.alarm === null,
    30_000,
    async () => JSON.stringify((await nodeStatus("n3"))?.disk),
  );
  const result = await load.stop();
  await appendToEveryGroup(await fc.client(), fc.groups, acks, phase);
  const report = await verifyNothingLost({
    probe: fc.probe,
    nodes,
    groups: fc.groups,
    acks,
    catchUpMs: 60_000,
  });
  assertNothingLost(report, replay);
  assertLoadErrorsExplained(result.errors, replay);
  return `acked ${report.acked}, compared ${report.entries} entries; load errors ${JSON.stringify(result.errors)}`;
}

describe("a full disk on one node", () => {
  it("stays up, refuses there, the others keep acknowledging, and it recovers by itself when space is freed", async () => {
    suite.watchFailure();
    const fc = suite.cluster();
    console.log(`[disk] ${FILE}: ${small.describe}`);
    const acks = new AckLog();
    const size = rng.int(128, 512);
    const client = await fc.client({ requestTimeoutMs: LEASE_MS, appendTimeoutMs: 30_000 });
    const load = startLoad(client, acks, { groups: GROUPS, loops: 8, size, phase: 1 });
    await waitFor("the load commits", () => acks.count >= 200, 30_000);
    const before = await nodeStatus("n3");
    expect(before?.disk).toMatchObject({ alarm: null, reserveBytes: small.reserveMb * MiB });

    // Fill n3's filesystem to half its reserve (tmpfs: 8 MiB free of 64).
    const filler = path.join(small.root, "filler");
    const reserve = small.reserveMb * MiB;
    const filled = fillUntil(filler, reserve - Math.min(reserve / 2, 8 * MiB));
    const n3 = fc.cluster.procs.get("n3")!;
    await waitFor(
      "n3 raises the NOSPACE alarm",
      async () => (await nodeStatus("n3"))?.disk?.alarm === "NOSPACE",
      30_000,
      async () => JSON.stringify((await nodeStatus("n3"))?.disk),
    );
    await waitFor(
      "n3 hands its leaderships away",
      async () => (await nodeStatus("n3"))?.leaders === 0,
      30_000,
      async () => `n3 leads ${(await nodeStatus("n3"))?.leaders}`,
    );
    // The premise: n3 really met the reserve (reservations refused), it did not just go quiet.
    await waitFor(
      "n3 refuses for lack of room",
      async () => ((await nodeStatus("n3"))?.disk?.refusedReservations ?? 0) > 0,
      30_000,
    );
    const ackedFull = acks.count;
    await waitFor("n1 and n2 keep acknowledging", () => acks.count >= ackedFull + 300, 45_000);
    expect(n3.exitCode, `n3 exited:\n${fc.logTail("n3")}`).toBeNull();
    expect(n3.signalCode).toBeNull();
    expect(fc.logTail("n3", 400)).toContain("NOSPACE: disk nearly full");

    // A restart while the disk is still full comes up (recovers, serves, refuses appends), never exits.
    await restartOnFullDisk();
    await waitFor(
      "the restarted n3 raises the alarm at once",
      async () => (await nodeStatus("n3"))?.disk?.alarm === "NOSPACE",
      15_000,
    );
    // The SDK's status report carries the alarm (typed NodeStatus).
    const n3Report = (await client.status()).find((r) => r.node === "n3");
    expect(n3Report && "status" in n3Report ? n3Report.status?.disk?.alarm : "no answer").toBe("NOSPACE");
    const ackedRestart = acks.count;
    await waitFor("acknowledged after the restart", () => acks.count >= ackedRestart + 200, 45_000);
    expect(fc.cluster.procs.get("n3")!.exitCode).toBeNull();

    // Space returns: the alarm clears by itself and n3 takes pushes again.
    const summary = await freeAndVerify(filler, acks, load, 2);
    console.log(
      `[disk] ${FILE}: filler ${Math.round(filled / MiB)} MiB, free after ${Math.round(freeBytes(small.root) / MiB)} MiB; ${summary}`,
    );
  }, 240_000);

  it("the last byte taken by someone else: writes wait, a stalled leader steps out, a restart comes up and stays up", async () => {
    suite.watchFailure();
    const fc = suite.cluster();
    const acks = new AckLog();
    const client = await fc.client({ requestTimeoutMs: LEASE_MS, appendTimeoutMs: 30_000 });
    const load = startLoad(client, acks, { groups: GROUPS, loops: 8, size: rng.int(128, 512), phase: 3 });
    await waitFor("the load commits", () => acks.count >= 200, 30_000);
    await fc.waitAllLed(nodes, 45_000);

    // Every byte of n3's filesystem: its next WAL write meets ENOSPC whatever the reserve said. The write waits
    // (the WAL stays in service); if n3 still leads groups whose writes wait, it stops after a few seconds so
    // they elect elsewhere (the one exit allowed here, with its own message).
    const filler = path.join(small.root, "filler-all");
    fillUntil(filler, 0);
    expect(freeBytes(small.root)).toBe(0);
    const n3 = fc.cluster.procs.get("n3")!;
    await waitFor(
      "n3 raises the NOSPACE alarm (or steps out as a stalled leader)",
      async () => n3.exitCode !== null || (await nodeStatus("n3"))?.disk?.alarm === "NOSPACE",
      30_000,
      async () => `${JSON.stringify((await nodeStatus("n3"))?.disk)}\n${fc.logTail("n3")}`,
    );
    const ackedFull = acks.count;
    await waitFor(
      "n1 and n2 keep acknowledging",
      () => acks.count >= ackedFull + 300,
      45_000,
      async () => `acked ${acks.count - ackedFull}; ${await fc.describeUnled()}`,
    );
    const log = fc.logTail("n3", 400);
    expect(log, "a WAL that met ENOSPC stays in service").not.toContain("out of service");
    const steppedOut = n3.exitCode !== null;
    if (steppedOut) expect(log).toContain("WAL writes have met ENOSPC");

    // A restart with not one byte free comes up and stays up (it leads nothing: it cannot persist a ballot).
    await restartOnFullDisk();
    const ackedRestart = acks.count;
    await waitFor("acknowledged after the restart", () => acks.count >= ackedRestart + 300, 45_000);
    await waitFor(
      "the restarted n3 raises the alarm",
      async () => (await nodeStatus("n3"))?.disk?.alarm === "NOSPACE",
      15_000,
    );
    expect(fc.cluster.procs.get("n3")!.exitCode, `n3 exited:\n${fc.logTail("n3")}`).toBeNull();

    const summary = await freeAndVerify(filler, acks, load, 4);
    console.log(
      `[disk] ${FILE} (last byte): n3 ${steppedOut ? "stepped out as a stalled leader" : "stayed up"}; ${summary}`,
    );
  }, 240_000);
});
