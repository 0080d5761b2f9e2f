import type { EffectSink, GroupId, MemberConfig, PersistRecord, Replica, ReplicaId } from "@palf/core";
import { MutableImage } from "@palf/core/testing";

/** A record waiting for the simulated disk's next sync. */
export interface PendingWrite {
  readonly group: GroupId;
  readonly seq: number;
  readonly record: PersistRecord;
}

/**
 * A simulated node: a local clock running at its own rate and offset, a disk that keeps only what was
 * synced (plus, at a crash, some prefix of what was not), and the replicas it hosts.
 */
export class SimNode {
  up = true;
  /** Bumped at every crash: events scheduled for an earlier life are ignored. */
  epoch = 0;
  readonly replicas = new Map<GroupId, Replica>();
  readonly images = new Map<GroupId, MutableImage>();
  readonly configs = new Map<GroupId, MemberConfig>();
  pending: PendingWrite[] = [];
  syncing: PendingWrite[] | undefined;
  /** Global time of the latest wake request per group (older wake events are stale). */
  readonly wakeAt = new Map<GroupId, number>();
  /** Local time each group asked to be woken at. */
  readonly wakeLocal = new Map<GroupId, number>();
  sink!: EffectSink;

  constructor(
    readonly id: ReplicaId,
    readonly rate: number,
    readonly offset: number,
  ) {}

  private lastLocal = Number.NEGATIVE_INFINITY;

  /** This node's monotonic clock at global time `t` (never goes back, even by a rounding error). */
  local(t: number): number {
    this.lastLocal = Math.max(this.lastLocal, this.offset + t * this.rate);
    return this.lastLocal;
  }

  /** Moves the clock up to `local` if a rounding error left it just short of a deadline it was woken for. */
  reach(local: number): number {
    this.lastLocal = Math.max(this.lastLocal, local);
    return this.lastLocal;
  }

  /** Global time at which this node's clock reads `local`. */
  global(local: number): number {
    return (local - this.offset) / this.rate;
  }

  image(group: GroupId): MutableImage {
    let img = this.images.get(group);
    if (!img) {
      img = new MutableImage(this.configs.get(group)!);
      this.images.set(group, img);
    }
    return img;
  }

  /** Applies synced writes to the durable images; returns the highest synced seq per group. */
  applySynced(writes: readonly PendingWrite[]): Map<GroupId, number> {
    const seqs = new Map<GroupId, number>();
    for (const w of writes) {
      this.image(w.group).apply(w.record);
      seqs.set(w.group, w.seq);
    }
    return seqs;
  }
}
