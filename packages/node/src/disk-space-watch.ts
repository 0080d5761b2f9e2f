/**
 * The NOSPACE alarm (etcd's is the model): a full disk is back-pressure, not an exit.
 *
 * In free-space mode (palfd's default) each shard's WAL room follows the filesystem's free space: every tick
 * reads statfs, and a shard may grow its WAL by its share of (free - reserve) with entries; the last quarter of
 * the reserve is kept for records that are never refused (promises, ballots, bases, truncations). A leader then
 * answers appends BACKPRESSURE and a follower leaves pushes unacked instead of hitting ENOSPC. The WAL itself
 * gets no budget, so a shrinking one refuses new reservations only, never a batch whose LSNs are assigned.
 *
 * While free space is below the reserve (or reservations are refused, or a WAL holds a batch whose write met
 * ENOSPC because something else took the last bytes) the alarm is up: the node status shows it, a warning is
 * logged at most every `logEveryMs`, and leaderships are handed to members that have the whole log, so the
 * group keeps acknowledging elsewhere. It clears by itself once space returns (a filler deleted, bases
 * advanced and segments recycled).
 */
import fs from "node:fs";
import type { ShardWal, ShardWalSpace } from "@palf/storage";
import type { DiskStatus } from "@palf/transport";
import type { Logger } from "pino";
import type { Runtime, TimerHandle } from "./runtime.ts";

/** What statfs says about the data dir's filesystem. */
export interface FreeSpace {
  /** Bytes an unprivileged writer may still use (f_bavail * f_bsize). */
  readonly freeBytes: number;
  readonly totalBytes: number;
}

export type StatFs = (dir: string) => Promise<FreeSpace>;

/** The free and total bytes of a statfs result. */
export function freeSpaceOf(s: fs.StatsFs): FreeSpace {
  return { freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
}

/** node:fs statfs (Node >= 18.15). */
export const realStatFs: StatFs = async (dir) => freeSpaceOf(await fs.promises.statfs(dir));

export interface DiskSpaceOptions {
  /**
   * Free bytes kept on the filesystem: appends are refused below it. Default: a tenth of the filesystem,
   * at least 16 MiB and at most 256 MiB.
   */
  readonly reserveBytes?: number;
  /** How often statfs is read (default 1000 ms). */
  readonly intervalMs?: number;
  /** At most one alarm warning per this many ms (default 5000). */
  readonly logEveryMs?: number;
  /** Injected statfs (tests); default node:fs. */
  readonly statfs?: StatFs;
  /**
   * How long a WAL may hold a batch that met ENOSPC while this node still leads groups or stands for leader
   * (default 5000 ms). Such a leader or candidate releases nothing it has not persisted, so its groups stall;
   * past this the node stops (onStuck) and its groups elect elsewhere; a restart comes up without leading.
   */
  readonly stuckLeaderMs?: number;
}

/** One shard as the watch sees it. */
export interface WatchedShard {
  readonly wal: ShardWal;
  /** Set in free-space mode: the room whose budget the watch moves. */
  readonly space: ShardWalSpace | undefined;
  /** Reservations refused so far (monotonic). */
  refused(): number;
  /** Moves leaderships to members with the whole log; returns how many were asked to move. */
  handLeadershipsAway(): number;
  /** Groups this shard leads, or stands for leader of, now (a stalled candidate holds its group too). */
  leaders(): number;
}

const MiB = 1024 * 1024;

export function defaultReserveBytes(totalBytes: number): number {
  return Math.floor(Math.min(256 * MiB, Math.max(16 * MiB, totalBytes / 10)));
}

export class DiskSpaceWatch {
  private readonly statfs: StatFs;
  private readonly intervalMs: number;
  private readonly logEveryMs: number;
  private timer: TimerHandle | undefined;
  private free: FreeSpace | undefined;
  private reserve: number | undefined;
  private alarmSince: number | null = null;
  private lastWarn = Number.NEGATIVE_INFINITY;
  private lastRefused = 0;
  private ticking = false;
  private stopped = false;
  /** Since when (runtime ms) a WAL holds a batch that met ENOSPC; undefined while none does. */
  private stuckSince: number | undefined;
  private readonly stuckLeaderMs: number;

  constructor(
    private readonly dir: string,
    private readonly shards: readonly WatchedShard[],
    private readonly mode: DiskStatus["mode"],
    private readonly log: Logger,
    private readonly rt: Runtime,
    opts: DiskSpaceOptions = {},
    private readonly onStuck: (err: Error) => void = () => {},
  ) {
    this.stuckLeaderMs = opts.stuckLeaderMs ?? 5000;
    this.statfs = opts.statfs ?? realStatFs;
    this.intervalMs = opts.intervalMs ?? 1000;
    this.logEveryMs = opts.logEveryMs ?? 5000;
    this.reserve = opts.reserveBytes;
  }

  /** Reads statfs once (so the budgets are set before the node serves), then every `intervalMs`. */
  async start(): Promise<void> {
    await this.tick();
    if (this.stopped) return;
    this.timer = this.rt.setInterval(() => void this.tick(), this.intervalMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.rt.clearInterval(this.timer);
  }

  /** One look at the disk: budgets, alarm, leaderships. Exposed for tests. */
  async tick(): Promise<void> {
    if (this.ticking || this.stopped) return;
    this.ticking = true;
    try {
      let short = false;
      if (this.mode === "free-space") {
        try {
          this.free = await this.statfs(this.dir);
        } catch (err) {
          // Keep the last budgets: a failed statfs says nothing about the space.
          this.log.warn({ err, dir: this.dir }, "statfs of the data dir failed");
          return;
        }
        if (this.stopped) return;
        const reserve = this.reserve ?? defaultReserveBytes(this.free.totalBytes);
        this.reserve = reserve;
        this.setBudgets(this.free.freeBytes, reserve);
        short = this.free.freeBytes < reserve;
      }
      // A WAL holding a batch whose write met ENOSPC (someone else took the last bytes): the disk is full.
      if (this.shards.some((s) => s.wal.stats().waitingForSpace)) {
        short = true;
        this.stuckSince ??= this.rt.now();
      } else this.stuckSince = undefined;
      const refused = this.shards.reduce((n, s) => n + s.refused(), 0);
      // With a fixed budget the only sign is refusals; in free-space mode they mean a shard's share is used up.
      if (refused > this.lastRefused) short = true;
      this.lastRefused = refused;
      this.update(short);
      this.checkStuckLeader();
    } finally {
      this.ticking = false;
    }
  }

  /**
   * Each shard may add its share of the free space; headroom (its share of the reserve) is where only records
   * that must be written go. Set between loop turns (a timer callback), never within one.
   */
  private setBudgets(freeBytes: number, reserve: number): void {
    const k = this.shards.length;
    const share = Math.floor(Math.max(0, freeBytes) / k);
    const headroom = Math.floor(reserve / k);
    for (const s of this.shards) s.space?.setBudget(s.wal.stats().bytesOnDisk + share, headroom);
  }

  private update(short: boolean): void {
    const now = this.rt.now();
    if (short) {
      if (this.alarmSince === null) {
        this.alarmSince = now;
        this.lastWarn = Number.NEGATIVE_INFINITY;
      }
      let moved = 0;
      for (const s of this.shards) moved += s.handLeadershipsAway();
      if (now - this.lastWarn >= this.logEveryMs) {
        this.lastWarn = now;
        this.log.warn(
          { alarm: "NOSPACE", ...this.spaceFields(), leadershipsMoved: moved },
          "NOSPACE: disk nearly full; appends are refused (BACKPRESSURE) until space returns",
        );
      }
    } else if (this.alarmSince !== null) {
      this.log.info(
        { alarm: null, ...this.spaceFields(), alarmMs: Math.round(now - this.alarmSince) },
        "NOSPACE cleared: disk space returned, appends are taken again",
      );
      this.alarmSince = null;
    }
  }

  private checkStuckLeader(): void {
    if (this.stuckSince === undefined || this.rt.now() - this.stuckSince < this.stuckLeaderMs) return;
    const leading = this.shards.reduce((n, s) => n + s.leaders(), 0);
    if (leading === 0) return;
    this.stop();
    this.onStuck(
      new Error(
        `WAL writes have met ENOSPC for ${this.rt.now() - this.stuckSince} ms while this node leads or stands for ${leading} ` +
          "groups: stopping so they elect a leader elsewhere",
      ),
    );
  }

  private spaceFields() {
    return {
      dir: this.dir,
      freeBytes: this.free?.freeBytes ?? null,
      reserveBytes: this.mode === "free-space" ? (this.reserve ?? null) : null,
    };
  }

  status(): DiskStatus {
    return {
      mode: this.mode,
      alarm: this.alarmSince === null ? null : "NOSPACE",
      alarmSince: this.alarmSince,
      freeBytes: this.free?.freeBytes ?? null,
      totalBytes: this.free?.totalBytes ?? null,
      reserveBytes: this.mode === "free-space" ? (this.reserve ?? null) : null,
      refusedReservations: this.shards.reduce((n, s) => n + s.refused(), 0),
    };
  }
}
