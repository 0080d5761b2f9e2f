import { type CsnFloorSource, quorum, type Replica } from "@palf/core";
import { encodeWatermarks, WATERMARK_GONE, WATERMARK_HELD } from "@palf/transport";
import type { NodeRuntime, Runtime, TimerHandle } from "./runtime.ts";

export interface WatermarkHost {
  readonly nodeId: string;
  /** The cluster has a GTS this node can rely on (it hosts the GTS group, or was told so). */
  gtsExpected(): boolean;
  replica(group: number): Replica | undefined;
  /** One GTS timestamp from a request sent after this call. */
  timestamp(): Promise<number>;
  /** Starts a lease renewal round; its seq. */
  renewNow(): number;
  confirmedSince(r: Replica, seq: number): boolean;
  /** A majority (`need`) of `members` acked a renewal of round `seq` or later (grants aside). */
  acksSince(members: readonly string[], need: number, seq: number): boolean;
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
}

/** Every watermark switch (the guard test checks that each has a guard). */
export const watermarkUnsafeSwitchNames: readonly (keyof WatermarkUnsafeSwitches)[] = ["carryChangedGroups"];

interface Snapshot {
  readonly r: Replica;
  readonly pid: number;
  readonly lsn: number;
}

interface Round {
  readonly w: number;
  readonly seq: number;
  readonly full: boolean;
  /** Groups looked at this round: every led group (full) or those changed since the last round (delta). */
  readonly snaps: Map<number, Snapshot>;
  /** Quads named as they are: led but waiting for a floor (HELD), no longer led here (GONE). */
  readonly fixed: number[];
  published: boolean;
  /** Its look-again time passed: publish what is vouched, busy groups at an older round. */
  due: boolean;
}

/** Carried groups by member set: one ack count vouches for all of them. */
interface Placement {
  readonly members: readonly string[];
  readonly need: number;
  readonly snaps: Map<number, Snapshot>;
}

/** Rounds kept: a group too busy to be vouched at the newest one is vouched at an older one it has passed. */
const ROUNDS_KEPT = 4;

/**
 * Watermarks without keep-alive entries. Every interval the node fetches one GTS value g: it becomes the CSN
 * floor of every group led here (one assignment: this class is the replicas' CsnFloorSource), each group
 * notes the LSN its next entry gets, and a lease renewal round starts. A group is vouched at g once that
 * round's acks confirm its grant on a majority and its committed end reached the noted LSN.
 *
 * Per round, only groups that changed are visited: a group vouched at the last round whose leadership and
 * next LSN did not change since (the shard reports every change through `changed`) is carried, vouched at
 * the new g with the same (pid, LSN) once acks of the new round from a majority of its member set arrive;
 * carried groups share one ack count per member set. A full batch every `fullEvery` rounds names every
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
  private readonly boot: number;
  private batchSeq = 0;
  private timer: TimerHandle | undefined;
  private checkQueued = false;
  /** Groups whose leadership, config or next LSN changed since the last snapshot. */
  private dirty = new Set<number>();
  /** Groups readers know as led here (named since the last full batch and not GONE since). */
  private known = new Set<number>();
  private readonly places = new Map<string, Placement>();
  private readonly placeOf = new Map<number, Placement>();
  /** Coverage version under which the carried groups' grants were last checked one by one. */
  private coverageSeen = -1;
  private readonly fullEvery: number;
  /** `w`: the GTS value of the newest published batch (its distance to now is the watermark lag). */
  /** `visited`: groups looked at by rounds' snapshots (per round: visited / batches; idle: about 0). */
  readonly stats = { fetches: 0, batches: 0, fullBatches: 0, vouched: 0, carried: 0, visited: 0, w: 0 };

  constructor(
    private readonly host: WatermarkHost,
    private readonly rt: NodeRuntime & Pick<Runtime, "random">,
    private readonly opts: WatermarkOptions,
  ) {
    this.fullEvery = opts.fullEvery ?? 20;
    // From the runtime, not Math.random: a simulator run must replay exactly from its seed.
    this.boot = Math.floor(rt.random() * 2 ** 48);
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

  /** A renewal ack arrived: the open round may be complete (checked once per turn). */
  onAck(): void {
    const round = this.rounds[0];
    if (!round || round.published || this.checkQueued) return;
    this.checkQueued = true;
    this.rt.setImmediate(() => {
      this.checkQueued = false;
      this.check(round.due, false);
    });
  }

  private async fetch(): Promise<void> {
    if (this.fetching || !this.required) return;
    this.fetching = true;
    const fetchNo = ++this.requested;
    try {
      const g = await this.host.timestamp();
      this.stats.fetches++;
      this.check(true, true);
      if (g > this.value) this.value = g;
      this.valueFetch = fetchNo;
      // The floor is raised and the snapshot taken in one synchronous step: whatever is appended after it
      // gets a CSN above g, and marks its group changed for the next round.
      const round = this.snapshot(this.value, this.roundNo++ % this.fullEvery === 0);
      this.rounds.unshift(round);
      if (this.rounds.length > ROUNDS_KEPT) this.rounds.pop();
      // Acks trigger the checks; busy groups commit their noted LSN a little after them: look again then.
      this.rt.setTimeout(
        () => {
          round.due = true;
          this.check(true, false);
        },
        Math.max(1, this.opts.intervalMs / 4),
      );
    } catch (err) {
      this.host.onError(err as Error);
    } finally {
      this.fetching = false;
    }
  }

  private snapshot(w: number, full: boolean): Round {
    const snaps = new Map<number, Snapshot>();
    const fixed: number[] = [];
    const look = (r: Replica) => {
      if (r.role !== "leader" || r.halted) return false;
      if (r.floorReady()) snaps.set(r.group, { r, pid: r.myPid, lsn: r.nextLsn });
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
    return { w, seq: this.host.renewNow(), full, snaps, fixed, published: false, due: false };
  }

  /**
   * Publishes the newest round once every group in it is vouched (or when forced): each group at the newest
   * round whose acks confirm its grant and whose noted LSN it has committed, so one busy group does not
   * hold its node's whole batch back. Carried groups wait for their member set's acks until `final` (the
   * next round is about to start): acks late on a loaded machine must not make them all be looked at again.
   */
  private check(force: boolean, final: boolean): void {
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
      // Most checks come before the round's acks: unless forced, give up at the first group not vouched.
      if (!force) return;
      const at = this.rounds.find((x) => x !== round && this.vouchedAt(r, snap.pid, x));
      if (at) groups.push(r.group, snap.pid, at.snaps.get(r.group)!.lsn, at.w);
      else groups.push(r.group, snap.pid, WATERMARK_HELD, 0);
    }
    const coverage = this.host.coverageVersion();
    const dropped = this.checkPlacements(round, force, final, coverage !== this.coverageSeen);
    if (dropped === undefined) return;
    for (const snap of dropped) groups.push(snap.r.group, snap.pid, WATERMARK_HELD, 0);
    // A full batch names the carried groups too (vouched by their member sets' acks, like a delta's).
    if (round.full)
      for (const [group, place] of this.placeOf) {
        const snap = place.snaps.get(group)!;
        if (!round.snaps.has(group)) groups.push(group, snap.pid, snap.lsn, round.w);
      }
    round.published = true;
    this.coverageSeen = coverage;
    this.publish(round, groups, vouched);
  }

  /**
   * Carried groups at this round: each member set whose acks of the round reach a majority vouches for all
   * its groups at once. Undefined: not yet (unforced, or a set's acks are missing before `final`). Else the
   * groups that could not be vouched, which stop being carried (named HELD, looked at again next round).
   * `regrant`: the grants the acks cover changed since the carried groups were last checked, so each is
   * checked on its own.
   */
  private checkPlacements(
    round: Round,
    force: boolean,
    final: boolean,
    regrant: boolean,
  ): Snapshot[] | undefined {
    const dropped: Snapshot[] = [];
    for (const place of this.places.values()) {
      const acked = this.host.acksSince(place.members, place.need, round.seq);
      if (!regrant && acked) continue;
      if ((!force && !regrant) || (!acked && !final)) return undefined;
      for (const snap of place.snaps.values()) {
        if (this.host.confirmedSince(snap.r, round.seq)) continue;
        if (!force) return undefined;
        dropped.push(snap);
      }
    }
    for (const snap of dropped) {
      this.uncarry(snap.r.group);
      this.dirty.add(snap.r.group);
    }
    return dropped;
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
    for (const snap of vouched) this.carry(snap);
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

  /** The round confirmed this leader's grant on a majority, and its commit point passed the LSN noted then. */
  private vouchedAt(r: Replica, pid: number, round: Round): boolean {
    const s = round.snaps.get(r.group);
    return (
      s !== undefined && s.pid === pid && r.committedEnd >= s.lsn && this.host.confirmedSince(r, round.seq)
    );
  }

  private carry(snap: Snapshot): void {
    const config = snap.r.latestConfig;
    const need = quorum(config);
    const key = `${need}|${config.members.join(",")}`;
    let place = this.places.get(key);
    if (!place) {
      place = { members: config.members, need, snaps: new Map() };
      this.places.set(key, place);
    }
    place.snaps.set(snap.r.group, snap);
    this.placeOf.set(snap.r.group, place);
  }

  private uncarry(group: number): void {
    const place = this.placeOf.get(group);
    if (!place) return;
    this.placeOf.delete(group);
    place.snaps.delete(group);
    if (place.snaps.size === 0) for (const [key, p] of this.places) if (p === place) this.places.delete(key);
  }
}
