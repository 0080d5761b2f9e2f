/**
 * Watermark rounds against a model of the groups a node leads (fake replicas, a hand-driven clock, the
 * lease hub's acks and a successor elected elsewhere once they lapse): every vouch a reader expands from the
 * batches must hold, unchanged groups must be carried without being looked at, and each
 * WatermarkUnsafeSwitches switch must make the checker fail.
 */
import { type MemberConfig, Prng, type Replica } from "@palf/core";
import { decodeWatermarks, WatermarkView } from "@palf/transport";
import { describe, expect, it } from "vitest";
import type { NodeRuntime, TimerHandle } from "./runtime.ts";
import {
  WatermarkPublisher,
  type WatermarkUnsafeSwitches,
  watermarkUnsafeSwitchNames,
} from "./watermarks.ts";

const config: MemberConfig = {
  version: { pid: 1, seq: 0 },
  members: ["n1", "n2", "n3"],
  learners: [],
  replicaNum: 3,
};

/** How long the hub counts a member's ack of a renewal, from its send time: L(1 - 2 drift) - guard. */
const ACK_COUNTS_MS = 4000 * 0.98 - 50;

/**
 * The parts of a Replica the publisher reads; the log is append-only (no truncation in this model). The
 * node's view ends at `ownEnd`; a successor elected elsewhere (`succeeded`) appends past it.
 */
class ModelGroup {
  role: "leader" | "follower" = "leader";
  readonly halted = false;
  myPid = 1;
  committedEnd = 0;
  ownEnd = 0;
  /** A successor leads the group elsewhere; this node has not heard yet (still leader, same pid). */
  succeeded = false;
  readonly latestConfig = config;
  readonly csns: number[] = [];
  constructor(
    readonly group: number,
    private readonly acked: () => number,
  ) {}
  get nextLsn(): number {
    return this.ownEnd;
  }
  floorReady(): boolean {
    return true;
  }
  /** The lease rests on the node's acks (the hub), which cover this group while no successor exists. */
  leaseValid(at: number): boolean {
    return this.role === "leader" && !this.succeeded && at < this.acked() + ACK_COUNTS_MS;
  }
}

/** A runtime whose timers run only when the test says so; its clock moves by hand. */
class ManualRuntime implements NodeRuntime {
  interval: (() => void) | undefined;
  t = 0;
  private immediates: Array<() => void> = [];
  private timeouts: Array<() => void> = [];
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void): TimerHandle {
    this.timeouts.push(fn);
    return {};
  }
  clearTimeout(): void {}
  setInterval(fn: () => void): TimerHandle {
    this.interval = fn;
    return {};
  }
  clearInterval(): void {}
  setImmediate(fn: () => void): void {
    this.immediates.push(fn);
  }
  /** Runs pending promise callbacks and immediates (and what they queue), not the timeouts. */
  async settle(): Promise<void> {
    for (;;) {
      await new Promise((r) => setImmediate(r));
      const q = this.immediates;
      if (q.length === 0) return;
      this.immediates = [];
      for (const fn of q) fn();
    }
  }
  /** Fires the timeouts set so far (the round's forced check). */
  async fireTimeouts(): Promise<void> {
    const q = this.timeouts;
    this.timeouts = [];
    for (const fn of q) fn();
    await this.settle();
  }
}

interface Vouch {
  readonly group: number;
  readonly pid: number;
  readonly lsn: number;
  readonly w: number;
}

/** One node leading `groups` groups, its watermark publisher, and a reader expanding its batches. */
function modelNode(groups: number, unsafe?: WatermarkUnsafeSwitches) {
  const rt = new ManualRuntime();
  /** Send time of the newest renewal every member acked (the model's members ack together). */
  let ackedAt = 0;
  const model = Array.from({ length: groups }, (_, i) => new ModelGroup(i + 1, () => ackedAt));
  let gts = 0;
  let coverage = 0;
  const vouches: Vouch[] = [];
  const view = new WatermarkView();
  const pub = new WatermarkPublisher(
    {
      nodeId: "n1",
      gtsExpected: () => true,
      replica: (g) => model[g - 1] as unknown as Replica | undefined,
      // GTS values step far beyond the CSNs appends take between rounds, as microseconds do.
      timestamp: async () => (gts += 1_000_000),
      // Once its members granted a successor, their acks stop covering the group (they refuse it).
      coveringMembers: (r) => ((r as unknown as ModelGroup).succeeded ? [] : config.members),
      coveredUntil: () => ackedAt + ACK_COUNTS_MS,
      renewBusy: () => {},
      coverageVersion: () => coverage,
      publish: (bytes) => {
        const b = decodeWatermarks(bytes);
        if (!b) throw new Error("malformed watermark batch");
        view.apply(b, (group, pid, lsn, w) => {
          if (lsn >= 0) vouches.push({ group, pid, lsn, w });
        });
      },
      onError: (err) => {
        throw err;
      },
    },
    rt,
    { intervalMs: 50, fullEvery: 5, ...(unsafe ? { unsafe } : {}) },
  );
  let lapsed = false;
  pub.start();
  for (const g of model) pub.changed(g.group);
  return {
    pub,
    model,
    vouches,
    /**
     * One round, 50 ms after the last: a GTS value, the floor raised and the snapshot taken, then its
     * look-again time. The node's lease renewals were acked just before it ("acked") or not ("silent").
     */
    async round(acks: "acked" | "silent" = "acked"): Promise<void> {
      rt.t += 50;
      if (acks === "acked" && !lapsed) ackedAt = rt.t - 1;
      rt.interval?.();
      await rt.settle();
      await rt.fireTimeouts();
    },
    /** An append as the shard does it: `changed` first, then a CSN above the floor and the last CSN. */
    append(g: ModelGroup): void {
      if (g.succeeded) return;
      pub.changed(g.group);
      g.csns.push(Math.max(pub.value + 1, (g.csns.at(-1) ?? 0) + 1));
      g.ownEnd = g.csns.length;
    },
    /**
     * The node's renewals stop being acked for longer than a lease (a partition, a stalled loop): its
     * members may grant a successor for `g`, elected elsewhere, which fetches its floor (a GTS value above
     * every one this node has) and appends past this node's end. This node has not heard: same role, pid.
     */
    lapse(g: ModelGroup): void {
      lapsed = true;
      rt.t = ackedAt + ACK_COUNTS_MS + 1;
      g.succeeded = true;
      const floor = ++gts;
      for (let i = 0; i < 3; i++) g.csns.push(Math.max(floor + 1, (g.csns.at(-1) ?? 0) + 1));
    },
    /** Renewals are acked again; the members report the groups they granted a successor (coverage changes). */
    heal(): void {
      if (!lapsed) return;
      lapsed = false;
      coverage++;
    },
    /** The leadership moves away or comes back (at a higher pid); the lease hub's coverage changes. */
    flip(g: ModelGroup): void {
      pub.changed(g.group);
      coverage++;
      if (g.role === "leader") g.role = "follower";
      else {
        g.role = "leader";
        g.myPid++;
      }
    },
  };
}

/** Vouches that pass an entry: some entry at or past the vouched LSN has a CSN at or below its w. */
function broken(model: readonly ModelGroup[], vouches: readonly Vouch[]): string[] {
  const out: string[] = [];
  for (const v of vouches) {
    const csns = model[v.group - 1]!.csns;
    for (let lsn = v.lsn; lsn < csns.length; lsn++)
      if (csns[lsn]! <= v.w)
        out.push(`group ${v.group}: vouched ${JSON.stringify(v)}, but lsn ${lsn} has csn ${csns[lsn]}`);
  }
  return out;
}

/** A seeded run: appends, commits, leadership moves, rounds without acks, acks lapsing (a successor). */
async function chaos(seed: number, unsafe?: WatermarkUnsafeSwitches) {
  const rng = new Prng(seed);
  const node = modelNode(12, unsafe);
  for (let step = 0; step < 300; step++) {
    const g = rng.pick(node.model);
    const x = rng.next();
    if (x < 0.33) {
      if (g.role === "leader") node.append(g);
    } else if (x < 0.58) g.committedEnd = g.ownEnd;
    else if (x < 0.63) node.flip(g);
    else if (x < 0.65) node.lapse(g);
    else if (x < 0.7) node.heal();
    else await node.round(rng.pick(["acked", "acked", "acked", "silent"] as const));
  }
  const carried = node.pub.stats.carried;
  return { violations: broken(node.model, node.vouches), carried, vouches: node.vouches.length };
}

const SEEDS = Array.from({ length: 20 }, (_, i) => i + 1);

describe("watermark rounds (model of a node's groups)", () => {
  it("every vouch holds over seeded appends, commits, leadership moves, rounds without acks and successors elected once acks lapsed; carried groups are vouched", async () => {
    for (const seed of SEEDS) {
      const run = await chaos(seed);
      expect(run.violations, `seed ${seed}`).toEqual([]);
      expect(run.carried, `seed ${seed}: no group was carried`).toBeGreaterThan(0);
      expect(run.vouches, `seed ${seed}`).toBeGreaterThan(0);
    }
  });

  it("idle rounds look at no group, and every group is vouched at each newest value, full batches and rounds without acks included", async () => {
    const node = modelNode(1000);
    for (const g of node.model) {
      node.append(g);
      g.committedEnd = g.nextLsn;
    }
    await node.round();
    await node.round();
    const visited = node.pub.stats.visited;
    for (let i = 0; i < 12; i++) {
      const before = node.vouches.length;
      await node.round();
      const fresh = node.vouches.slice(before).filter((v) => v.w === node.pub.stats.w);
      expect(new Set(fresh.map((v) => v.group)).size, `round ${i}`).toBe(1000);
    }
    // Rounds between renewals (no ack since the last) still carry every group while the acks count.
    for (let i = 0; i < 6; i++) {
      const before = node.vouches.length;
      await node.round("silent");
      const fresh = node.vouches.slice(before).filter((v) => v.w === node.pub.stats.w);
      expect(new Set(fresh.map((v) => v.group)).size, `round without acks ${i}`).toBe(1000);
    }
    expect(node.pub.stats.visited).toBe(visited);
    expect(node.pub.stats.fullBatches).toBeGreaterThanOrEqual(3);
    // One append: the next round looks at that group alone.
    node.append(node.model[7]!);
    await node.round();
    expect(node.pub.stats.visited).toBe(visited + 1);
    expect(broken(node.model, node.vouches)).toEqual([]);
  });
});

/** Each switch and the seeds (of the safety test above) each of which must catch it. */
const GUARDS: ReadonlyArray<{ name: keyof WatermarkUnsafeSwitches; seeds: readonly number[] }> = [
  { name: "carryChangedGroups", seeds: SEEDS },
  { name: "vouchWithoutLease", seeds: SEEDS },
];

describe("watermark rule guards", () => {
  it("every WatermarkUnsafeSwitches field has a guard here", () => {
    const guarded = new Set(GUARDS.map((g) => g.name));
    expect(watermarkUnsafeSwitchNames.filter((n) => !guarded.has(n))).toEqual([]);
  });

  for (const g of GUARDS) {
    it(`${g.name}: a stale vouch is caught at every seed (the same seeds are clean with the switch off)`, async () => {
      const missed: number[] = [];
      for (const seed of g.seeds)
        if ((await chaos(seed, { [g.name]: true })).violations.length === 0) missed.push(seed);
      expect(missed, "seeds where the switch went unnoticed").toEqual([]);
    });
  }
});
