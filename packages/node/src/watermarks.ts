import type { CsnFloorSource, Replica } from "@palf/core";
import { encodeWatermarks } from "@palf/transport";
import type { NodeRuntime, TimerHandle } from "./runtime.ts";

export interface WatermarkHost {
  readonly nodeId: string;
  /** The cluster has a GTS this node can rely on (it hosts the GTS group, or was told so). */
  gtsExpected(): boolean;
  /** Replicas of data groups (not GTS) on this node. */
  replicas(): Iterable<Replica>;
  replica(group: number): Replica | undefined;
  /** One GTS timestamp from a request sent after this call. */
  timestamp(): Promise<number>;
  /** Starts a lease renewal round; its seq. */
  renewNow(): number;
  confirmedSince(r: Replica, seq: number): boolean;
  publish(batch: Uint8Array): void;
  onError(err: Error): void;
}

interface Snapshot {
  readonly pid: number;
  readonly lsn: number;
}

interface Round {
  readonly w: number;
  readonly seq: number;
  readonly snaps: Map<number, Snapshot>;
  /** Led here but still waiting for a fresh floor: listed as held, so a reader of all groups waits for them. */
  readonly held: number[];
  published: boolean;
}

/** Rounds kept: a group too busy to be vouched at the newest one is vouched at an older one it has passed. */
const ROUNDS_KEPT = 4;

/**
 * Watermarks without keep-alive entries. Every interval the node fetches one GTS value g: it becomes the CSN
 * floor of every group led here (one assignment: this class is the replicas' CsnFloorSource), each such
 * group notes the LSN its next entry gets, and a lease renewal round starts. A group is vouched at g once
 * that round's acks confirm its grant on a majority and its committed end reached the noted LSN; the batch
 * of all vouched groups goes out on `events.watermarks`. Idle groups add nothing to any log.
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
  private batchSeq = 0;
  private timer: TimerHandle | undefined;
  private checkQueued = false;
  readonly stats = { fetches: 0, batches: 0, vouched: 0 };

  constructor(
    private readonly host: WatermarkHost,
    private readonly rt: NodeRuntime,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.timer = this.rt.setInterval(() => void this.fetch(), this.intervalMs);
  }

  stop(): void {
    this.rt.clearInterval(this.timer);
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
      this.check(false);
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
      const snaps = new Map<number, Snapshot>();
      const held: number[] = [];
      for (const r of this.host.replicas()) {
        if (r.role !== "leader") continue;
        if (r.floorReady()) snaps.set(r.group, { pid: r.myPid, lsn: r.nextLsn });
        else held.push(r.group, r.myPid, -1, 0);
      }
      const seq = this.host.renewNow();
      this.rounds.unshift({ w: this.value, seq, snaps, held, published: false });
      if (this.rounds.length > ROUNDS_KEPT) this.rounds.pop();
      // Acks trigger the checks; busy groups commit their noted LSN a little after them: look again then.
      this.rt.setTimeout(() => this.check(true), Math.max(1, this.intervalMs / 4));
    } catch (err) {
      this.host.onError(err as Error);
    } finally {
      this.fetching = false;
    }
  }

  /**
   * Publishes the newest round once every group in it is vouched (or when forced): each group at the newest
   * round whose acks confirm its grant and whose noted LSN it has committed, so one busy group does not
   * hold its node's whole batch back.
   */
  private check(force: boolean): void {
    const round = this.rounds[0];
    if (!round || round.published) return;
    const groups: number[] = [...round.held];
    let waiting = 0;
    for (const [group, snap] of round.snaps) {
      const r = this.host.replica(group);
      if (r?.role !== "leader" || r.myPid !== snap.pid) continue;
      if (this.vouchedAt(r, snap.pid, round)) {
        groups.push(group, snap.pid, snap.lsn, round.w);
        continue;
      }
      // Most checks come before the round's acks: unless forced, give up at the first group not vouched.
      if (!force) return;
      waiting++;
      const at = this.rounds.find((x) => x !== round && this.vouchedAt(r, snap.pid, x));
      if (at) groups.push(group, snap.pid, at.snaps.get(group)!.lsn, at.w);
      else groups.push(group, snap.pid, -1, 0);
    }
    round.published = true;
    this.stats.batches++;
    this.stats.vouched += round.snaps.size - waiting;
    this.host.publish(encodeWatermarks({ node: this.host.nodeId, seq: ++this.batchSeq, w: round.w, groups }));
  }

  /** The round confirmed this leader's grant on a majority, and its commit point passed the LSN noted then. */
  private vouchedAt(r: Replica, pid: number, round: Round): boolean {
    const s = round.snaps.get(r.group);
    return (
      s !== undefined && s.pid === pid && r.committedEnd >= s.lsn && this.host.confirmedSince(r, round.seq)
    );
  }
}
