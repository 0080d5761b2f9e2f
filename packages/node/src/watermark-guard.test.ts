/**
 * Watermark rounds against a model of the groups a node leads (fake replicas, a hand-driven runtime and
 * lease acks): every vouch a reader expands from the batches must hold, unchanged groups must be carried
 * without being looked at, and each WatermarkUnsafeSwitches switch must make the checker fail.
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

/** The parts of a Replica the publisher reads; the log is append-only (no truncation in this model). */
class ModelGroup {
  role: "leader" | "follower" = "leader";
  readonly halted = false;
  myPid = 1;
  committedEnd = 0;
  readonly latestConfig = config;
  readonly csns: number[] = [];
  constructor(readonly group: number) {}
  get nextLsn(): number {
    return this.csns.length;
  }
  floorReady(): boolean {
    return true;
  }
}

/** A runtime whose timers run only when the test says so. */
class ManualRuntime implements NodeRuntime {
  interval: (() => void) | undefined;
  random(): number {
    return 0.5;
  }
  private immediates: Array<() => void> = [];
  private timeouts: Array<() => void> = [];
  now(): number {
    return 0;
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
  const model = Array.from({ length: groups }, (_, i) => new ModelGroup(i + 1));
  let gts = 0;
  let renewSeq = 0;
  let ackedSeq = 0;
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
      renewNow: () => ++renewSeq,
      confirmedSince: (r, seq) => ackedSeq >= seq && r.role === "leader",
      acksSince: (_members, _need, seq) => ackedSeq >= seq,
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
  pub.start();
  for (const g of model) pub.changed(g.group);
  return {
    pub,
    model,
    vouches,
    /**
     * One round: a GTS value, the floor raised and the snapshot taken, then the renewal acks before the
     * round's look-again time ("early"), after it ("late"), or not at all ("none").
     */
    async round(acks: "early" | "late" | "none" = "early"): Promise<void> {
      const ack = async () => {
        ackedSeq = renewSeq;
        pub.onAck();
        await rt.settle();
      };
      rt.interval?.();
      await rt.settle();
      if (acks === "early") await ack();
      await rt.fireTimeouts();
      if (acks === "late") await ack();
    },
    /** An append as the shard does it: `changed` first, then a CSN above the floor and the last CSN. */
    append(g: ModelGroup): void {
      pub.changed(g.group);
      g.csns.push(Math.max(pub.value + 1, (g.csns.at(-1) ?? 0) + 1));
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

/** A seeded run: appends, commits, leadership moves, rounds whose acks come late or not at all. */
async function chaos(seed: number, unsafe?: WatermarkUnsafeSwitches) {
  const rng = new Prng(seed);
  const node = modelNode(12, unsafe);
  for (let step = 0; step < 300; step++) {
    const g = rng.pick(node.model);
    const x = rng.next();
    if (x < 0.35) {
      if (g.role === "leader") node.append(g);
    } else if (x < 0.6) g.committedEnd = g.nextLsn;
    else if (x < 0.65) node.flip(g);
    else await node.round(rng.pick(["early", "early", "early", "late", "none"] as const));
  }
  const carried = node.pub.stats.carried;
  return { violations: broken(node.model, node.vouches), carried, vouches: node.vouches.length };
}

const SEEDS = Array.from({ length: 20 }, (_, i) => i + 1);

describe("watermark rounds (model of a node's groups)", () => {
  it("every vouch holds over seeded appends, commits, leadership moves and late acks; carried groups are vouched", async () => {
    for (const seed of SEEDS) {
      const run = await chaos(seed);
      expect(run.violations, `seed ${seed}`).toEqual([]);
      expect(run.carried, `seed ${seed}: no group was carried`).toBeGreaterThan(0);
      expect(run.vouches, `seed ${seed}`).toBeGreaterThan(0);
    }
  });

  it("idle rounds look at no group, and every group is vouched at each newest value, full batches and late acks included", async () => {
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
    // Acks that come after the round's look-again time (a loaded machine) still carry every group.
    for (let i = 0; i < 6; i++) {
      const before = node.vouches.length;
      await node.round("late");
      const fresh = node.vouches.slice(before).filter((v) => v.w === node.pub.stats.w);
      expect(new Set(fresh.map((v) => v.group)).size, `late round ${i}`).toBe(1000);
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
