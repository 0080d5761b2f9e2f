import type { Replica } from "@palf/core";
import { describe, expect, it } from "vitest";
import { laggingGroups } from "./node-metrics.ts";

/** The replica views laggingGroups reads. */
const replica = (
  group: number,
  role: string,
  end: number,
  committedEnd: number,
  matches: Record<string, number>,
) =>
  ({
    group,
    role,
    self: "n1",
    log: { end },
    committedEnd,
    unresolvedAppends: 1,
    peerMatchEnds: () => Object.entries({ n1: end, ...matches }),
  }) as unknown as Replica;

describe("laggingGroups", () => {
  it("lists the led groups trailing the most, commit lag first, and leaves out groups in step and followers", () => {
    const out = laggingGroups(
      [
        replica(1, "leader", 1000, 1000, { n2: 1000, n3: 1000 }),
        replica(2, "leader", 1000, 900, { n2: 900, n3: 1000 }),
        replica(3, "leader", 1000, 1000, { n2: 1000, n3: 400 }),
        replica(4, "follower", 1000, 0, {}),
        replica(5, "leader", 5000, 3000, { n2: 3000, n3: 5000 }),
      ],
      2,
    );
    expect(out).toEqual([
      { group: 5, commitLagBytes: 2000, followerLagBytes: 2000, follower: "n2", unresolvedEntries: 1 },
      { group: 2, commitLagBytes: 100, followerLagBytes: 100, follower: "n2", unresolvedEntries: 1 },
    ]);
    expect(laggingGroups([replica(3, "leader", 1000, 1000, { n2: 1000, n3: 400 })], 5)).toEqual([
      { group: 3, commitLagBytes: 0, followerLagBytes: 600, follower: "n3", unresolvedEntries: 1 },
    ]);
  });
});
