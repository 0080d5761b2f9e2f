import { type CsnFloorSource, quorum, type Replica } from "@palf/core";
import { encodeWatermarks, WATERMARK_GONE, WATERMARK_HELD } from "@palf/transport";
import type { NodeRuntime, TimerHandle } from "./runtime.ts";

export interface WatermarkHost {
  readonly nodeId: string;
  /** The cluster has a GTS this node can rely on (it hosts the GTS group, or was told so). */
  gtsExpected(): boolean;
  replica(group: number): Replica | undefined;
  /** One GTS timestamp from a request sent after this call. */
  timestamp(): Promise<number>;
  /** Some group led here changed since the last round: renew leases with this one (LeaseHub.renewNow). */
  renewBusy(): void;
  /** Members whose renewal acks cover this leader's lease ballot (LeaseHub.coveringMembers). */
  coveringMembers(r: Replica): readonly string[];
  /** Until when `member`'s acks of this node's renewals count toward the leases they cover (LeaseHub.coveredUntil). */
  coveredUntil(member: string): number;
  /** Changes whenever the grants the acks cover may have changed (LeaseHub.coverageVersion). */
  coverageVersion(): number;
  publish(batch: Uint8Array): void;
  onError(err: Error): void;
}

export interface WatermarkOptions {
  readonly intervalMs: number;
  /** Every this many rounds the batch is full (default 20): readers that missed one start over. */
  readonly fullEvery?: number;
  /** Test-only rule breaches (see WatermarkUnsafeSwitches); never set in production. */
  readonly unsafe?: WatermarkUnsafeSwitches;
}

/**
 * Test-only faults of the watermark rounds, each breaking one rule the way a naive build would, so that
 * `watermark-guard.test.ts` can show its checker catches it. Production never sets any of them.
 */
export interface WatermarkUnsafeSwitches {
  /**
   * A carried group is looked at again once it changed: the publisher ignores `changed` for groups it
   * carries, so a group appended to since its last vouch goes on being vouched at its old LSN at every
   * newer GTS value (a stale carried-over watermark: readers pass entries whose CSN is below it).
   */
  readonly carryChangedGroups?: boolean;
  /**
   * A group is vouched only while its leader's lease holds at the snapshot: the publisher skips the lease
   * checks (the leader's own, and its member set's acks for carried groups), so a leader whose lease ran out
   * (a successor may already append with a lower floor) goes on vouching at every newer GTS value.
   */
  readonly vouchWithoutLease?: boolean;
}

/** Every watermark switch (the guard test checks that each has a guard). */
export const watermarkUnsafeSwitchNames: readonly (keyof WatermarkUnsafeSwitches)[] = [
  "carryChangedGroups",
  "vouchWithoutLease",
];

interface Snapshot {
  readonly r: Replica;
  readonly pid: number;
  readonly lsn: number;
  /** The leader's lease held when the snapshot was taken. */
  readonly leased: boolean;
}

interface Round {
  readonly w: number;
  /** When the snapshot was taken (after the GTS value came back): leases are checked at this time. */
  readonly at: number;
  readonly full: boolean;
  /** Groups looked at this round: every led group (full) or those changed since the last round (delta). */
  readonly snaps: Map<number, Snapshot>;
  /** Quads named as they are: led but waiting for a floor (HELD), no longer led here (GONE). */
  readonly fixed: number[];
  published: boolean;
}

/** Carried groups by the members whose acks cover their leases: one count vouches for all of them. */
interface Placement {
  /** The members whose acks covered each group's lease ballot when it was last checked on its own. */
  readonly members: readonly string[];
  readonly need: number;
  readonly snaps: Map<number, Snapshot>;
}

/** Rounds kept: a group too busy to be vouched at the newest one is vouched at an older one it has passed. */
const ROUNDS_KEPT = 4;

/**
 * Watermarks without keep-alive entries. Every interval the node fetches one GTS value g: it becomes the CSN
 * floor of every group led here (one assignment: this class is the replicas' CsnFloorSource), and each group
 * notes the LSN its next entry gets and whether its leader's lease holds at that moment. A group is vouched
 * at g once its committed end reached the noted LSN, if its lease held then: no successor can be elected
 * before the lease ends, and a successor serves only with a floor fetched after it was elected, above g.
 *
 * Per round, only groups that changed are visited: a group vouched at the last round whose leadership and
 * next LSN did not change since (the shard reports every change through `changed`) is carried, vouched at
 * the new g with the same (pid, LSN) while the acks of a majority of the members that cover its lease still
 * count at the snapshot; carried groups share one count per covering member set, and no message is sent for
 * a round (the node's lease renewals keep the acks fresh). A full batch every `fullEvery` rounds names every
 * group led here, the carried ones from memory, so a reader that missed a batch can start over; no round
 * visits an unchanged group. Idle groups add nothing to any log and cost nothing per round. The safety
 * argument is in docs/design.md ("Watermarks").
 */
export class WatermarkPublisher implements CsnFloorSource {
  value = 0;
  valueFetch = 0;
  requested = 0;

  get required(): boolean {
    return this.host.gtsExpected();
  }

  private fetching = false;
  private soon = false;
  private rounds: Round[] = [];
  private roundNo = 0;
  private readonly boot = Math.floor(Math.random() * 2 ** 48);
  private batchSeq = 0;
  private timer: TimerHandle | undefined;
  /** Groups whose leadership, config or next LSN changed since the last snapshot. */
  private dirty = new Set<number>();
  /** `changed` was called since the last snapshot (the node is busy, not just looking again). */
  private busy = false;
  /** Groups readers know as led here (named since the last full batch and not GONE since). */
  private known = new Set<number>();
  private readonly places = new Map<string, Placement>();
  private readonly placeOf = new Map<number, Placement>();
  /** Coverage version under which the carried groups' covering members were last checked one by one. */
  private coverageSeen = -1;
  private readonly fullEvery: number;
  /** `w`: the GTS value of the newest published batch (its distance to now is the watermark lag). */
  /** `visited`: groups looked at by rounds' snapshots (per round: visited / batches; idle: about 0). */
  readonly stats = { fetches: 0, batches: 0, fullBatches: 0, vouched: 0, carried: 0, visited: 0, w: 0 };

  constructor(
    private readonly host: WatermarkHost,
    private readonly rt: NodeRuntime,
    private readonly opts: WatermarkOptions,
  ) {
    this.fullEvery = opts.fullEvery ?? 20;
  }

  start(): void {
    this.timer = this.rt.setInterval(() => void this.fetch(), this.opts.intervalMs);
  }

  stop(): void {
    this.rt.clearInterval(this.timer);
  }

  /** The shard saw this group's role, config or next LSN change: look at it in the next round. */
  changed(group: number): void {
    // Test-only breach (carryChangedGroups): a carried group's change goes unseen.
    if (this.opts.unsafe?.carryChangedGroups && this.placeOf.has(group)) return;
    this.dirty.add(group);
    this.busy = true;
  }

  /** A new leader waits for a floor fetched after its StartWorking: fetch now rather than at the next tick. */
  wanted(): void {
    if (this.soon) return;
    this.soon = true;
    this.rt.setImmediate(() => {
      this.soon = false;
      void this.fetch();
    });
  }

  private async fetch(): Promise<void> {
    if (this.fetching || !this.required) return;
    this.fetching = true;
    const fetchNo = ++this.requested;
    try {
      const g = await this.host.timestamp();
      this.stats.fetches++;
      this.check(true);
      if (g > this.value) this.value = g;
      this.valueFetch = fetchNo;
      // The floor is raised and the snapshot taken in one synchronous step: whatever is appended after it
      // gets a CSN above g, and marks its group changed for the next round.
      const round = this.snapshot(this.value, this.roundNo++ % this.fullEvery === 0);
      this.rounds.unshift(round);
      if (this.rounds.length > ROUNDS_KEPT) this.rounds.pop();
      // Idle groups are vouched at once; busy groups commit their noted LSN a little later: look again then.
      this.check(false);
      const lookAgain = () => {
        if (this.rounds[0] === round) this.check(true);
      };
      if (!round.published) this.rt.setTimeout(lookAgain, Math.max(1, this.opts.intervalMs / 4));
    } catch (err) {
      this.host.onError(err as Error);
    } finally {
      this.fetching = false;
    }
  }

  private snapshot(w: number, full: boolean): Round {
    const at = this.rt.now();
    const snaps = new Map<number, Snapshot>();
    const fixed: number[] = [];
    const look = (r: Replica) => {
      if (r.role !== "leader" || r.halted) return false;
      if (r.floorReady()) snaps.set(r.group, { r, pid: r.myPid, lsn: r.nextLsn, leased: this.leased(r, at) });
      else fixed.push(r.group, r.myPid, WATERMARK_HELD, 0);
      return true;
    };
    // Every group led here is carried or dirty (a group stops being carried only by becoming dirty), so the
    // dirty ones are all a round must look at, full or not.
    for (const group of this.dirty) {
      this.uncarry(group);
      const r = this.host.replica(group);
      if (!(r && look(r)) && this.known.has(group) && !full) fixed.push(group, 0, WATERMARK_GONE, 0);
    }
    this.stats.visited += this.dirty.size;
    this.dirty = new Set();
    // Not for vouching (the lease at the snapshot does that): keeps busy groups' leases fresh.
    if (this.busy) this.host.renewBusy();
    this.busy = false;
    // Carried groups whose leases can no longer be shown to hold at this snapshot are named HELD.
    for (const snap of this.uncoveredCarried(at)) {
      this.uncarry(snap.r.group);
      this.dirty.add(snap.r.group);
      fixed.push(snap.r.group, snap.pid, WATERMARK_HELD, 0);
    }
    return { w, at, full, snaps, fixed, published: false };
  }

  /** The leader's lease holds at `at` (a test-only breach skips the check). */
  private leased(r: Replica, at: number): boolean {
    return this.opts.unsafe?.vouchWithoutLease === true || r.leaseValid(at);
  }

  /** A majority (`need`) of `members` have acks that still count at `at`. */
  private covered(members: readonly string[], need: number, at: number): boolean {
    if (this.opts.unsafe?.vouchWithoutLease) return true;
    let n = 0;
    for (const m of members) if (this.host.coveredUntil(m) > at) n++;
    return n >= need;
  }

  /**
   * Carried groups whose leases cannot be shown to hold at `at`: a covering member set without a majority
   * of counting acks. When the coverage changed since they were last checked (a member refused, a new set),
   * every carried group is checked on its own and carried on under the members that now cover it.
   */
  private uncoveredCarried(at: number): Snapshot[] {
    const out: Snapshot[] = [];
    const coverage = this.host.coverageVersion();
    const regrant = coverage !== this.coverageSeen;
    this.coverageSeen = coverage;
    const carried = regrant
      ? [...this.placeOf.values()]
      : [...this.places.values()].filter((p) => !this.covered(p.members, p.need, at));
    for (const place of new Set(carried))
      for (const snap of [...place.snaps.values()]) {
        if (!regrant) {
          out.push(snap);
          continue;
        }
        this.uncarry(snap.r.group);
        if (!this.carry(snap, at)) out.push(snap);
      }
    return out;
  }

  /**
   * Publishes the newest round once every group in it is vouched (or when forced): each group whose lease
   * held at the snapshot and whose noted LSN it has committed, at this round, so one busy group does not
   * hold its node's whole batch back; carried groups were settled at the snapshot.
   */
  private check(force: boolean): void {
    const round = this.rounds[0];
    if (!round || round.published) return;
    const groups: number[] = [...round.fixed];
    const vouched: Snapshot[] = [];
    for (const snap of round.snaps.values()) {
      const r = snap.r;
      if (this.host.replica(r.group) !== r || r.role !== "leader" || r.myPid !== snap.pid) {
        // Lost since the snapshot; its change was noted, so the next round looks at it again.
        if (this.known.has(r.group)) groups.push(r.group, 0, WATERMARK_GONE, 0);
        continue;
      }
      if (this.vouchedAt(r, snap.pid, round)) {
        groups.push(r.group, snap.pid, snap.lsn, round.w);
        vouched.push(snap);
        continue;
      }
      // A group still committing its noted LSN may get there: unless forced, wait for it.
      if (!force && snap.leased) return;
      const at = this.rounds.find((x) => x !== round && this.vouchedAt(r, snap.pid, x));
      if (at) groups.push(r.group, snap.pid, at.snaps.get(r.group)!.lsn, at.w);
      else groups.push(r.group, snap.pid, WATERMARK_HELD, 0);
    }
    // A full batch names the carried groups too (vouched by their covering members' acks, like a delta's).
    if (round.full)
      for (const [group, place] of this.placeOf) {
        const snap = place.snaps.get(group)!;
        if (!round.snaps.has(group)) groups.push(group, snap.pid, snap.lsn, round.w);
      }
    round.published = true;
    this.publish(round, groups, vouched);
  }

  private publish(round: Round, groups: number[], vouched: Snapshot[]): void {
    const base = round.full ? 0 : this.batchSeq;
    if (round.full) this.known = new Set();
    for (let i = 0; i < groups.length; i += 4) {
      const group = groups[i]!;
      if (groups[i + 2] === WATERMARK_GONE) this.known.delete(group);
      else this.known.add(group);
      // Named but not vouched at this round: look at it again next round.
      if (groups[i + 3] !== round.w) this.dirty.add(group);
    }
    for (const snap of vouched) if (!this.carry(snap, round.at)) this.dirty.add(snap.r.group);
    this.stats.batches++;
    this.stats.w = round.w;
    if (round.full) this.stats.fullBatches++;
    this.stats.vouched += vouched.length;
    this.stats.carried += this.placeOf.size - vouched.length;
    this.host.publish(
      encodeWatermarks({
        node: this.host.nodeId,
        boot: this.boot,
        seq: ++this.batchSeq,
        base,
        w: round.w,
        groups,
      }),
    );
  }

  /** The leader's lease held at the round's snapshot, and its commit point passed the LSN noted then. */
  private vouchedAt(r: Replica, pid: number, round: Round): boolean {
    const s = round.snaps.get(r.group);
    return s !== undefined && s.pid === pid && s.leased && r.committedEnd >= s.lsn;
  }

  /**
   * Carries a vouched group under the members whose acks cover its lease ballot, if a majority of its members
   * do and their acks count at `at`; false if it cannot be carried (it is looked at again next round).
   */
  private carry(snap: Snapshot, at: number): boolean {
    const config = snap.r.latestConfig;
    const need = quorum(config);
    const members = this.opts.unsafe?.vouchWithoutLease ? config.members : this.host.coveringMembers(snap.r);
    if (members.length < need || !this.covered(members, need, at)) return false;
    const key = `${need}|${members.join(",")}`;
    let place = this.places.get(key);
    if (!place) {
      place = { members, need, snaps: new Map() };
      this.places.set(key, place);
    }
    place.snaps.set(snap.r.group, snap);
    this.placeOf.set(snap.r.group, place);
    return true;
  }

  private uncarry(group: number): void {
    const place = this.placeOf.get(group);
    if (!place) return;
    this.placeOf.delete(group);
    place.snaps.delete(group);
    if (place.snaps.size === 0) for (const [key, p] of this.places) if (p === place) this.places.delete(key);
  }
}
