import { recordBytes } from "./disk-budget.ts";
import type { WalRecord } from "./types.ts";

/** What a room needs of its WAL: the budget projection, and the held bytes it alone moves. */
export interface HeldRoom {
  /** Bytes on disk once everything queued, held and `adding` more are written (ShardWal.projectedBytes). */
  projectedBytes(adding: number): number;
  /** Holds `bytes` more (negative: gives them back; never below zero). */
  hold(bytes: number): void;
}

/**
 * A shard's WAL room (core's WalSpace, which this matches structurally: storage does not import core): room in
 * the WAL's disk budget, reserved by the replicas before they assign LSNs, so a burst of appends or pushes within one loop turn meets back-pressure instead
 * of a WAL that refuses the turn's batch (DISK_FULL) and takes every group in it out of service.
 *
 * Reservations are held in the WAL (`heldBytes`, which only its room changes), so its own budget checks (a submit, copy-forward) count
 * them as queued; a replica's reservation ends when it persists the entry it reserved for, and the held
 * bytes drop when the turn's batch is submitted. Entries may fill the budget up to a headroom; records that
 * must always be written (promises, ballots, bases, truncations: never refused) and what an entry record
 * costs beyond its log bytes are counted as they are queued and live in the headroom, which config and
 * StartWorking entries may also use, all but a last slice that absorbs the records queued after them.
 */
export class ShardWalSpace {
  /** Log bytes of entries queued for the next submit: their reservations end when it takes them. */
  private persisted = 0;
  /** Bytes queued for the next submit that no reservation covered. */
  private unreserved = 0;
  private dataLimit: number;
  private controlLimit: number;
  /** Reservations refused since the last `takeRefused` (time to recycle). */
  private refused = 0;

  constructor(
    private readonly wal: HeldRoom,
    budget: number,
    headroom: number = defaultHeadroom(budget),
  ) {
    this.dataLimit = budget - headroom;
    this.controlLimit = budget - Math.floor(headroom / 4);
  }

  /**
   * A new budget (the free-space watch moves it with the filesystem's free space). Called between loop turns
   * only, so a turn's reservations and its submit see one budget; the WAL itself has no budget then, so a
   * lower one refuses new reservations and never a batch whose LSNs are assigned.
   */
  setBudget(budget: number, headroom: number = defaultHeadroom(budget)): void {
    this.dataLimit = budget - headroom;
    this.controlLimit = budget - Math.floor(headroom / 4);
  }

  reserve(bytes: number, control: boolean): boolean {
    // One comparison on the hot path: everything queued, held and not yet submitted is in the projection.
    if (this.wal.projectedBytes(this.unreserved + bytes) > (control ? this.controlLimit : this.dataLimit)) {
      this.refused++;
      return false;
    }
    this.wal.hold(bytes);
    return true;
  }

  release(bytes: number): void {
    this.wal.hold(-bytes);
  }

  /** A record was queued for the next submit (an entry ends the reservation made for its log bytes). */
  queued(record: WalRecord): void {
    const size = recordBytes(record);
    if (record.kind === "entry") {
      const logBytes = record.end - record.lsn;
      this.persisted += logBytes;
      this.unreserved += size - logBytes;
    } else this.unreserved += size;
  }

  /** The queued records go to the WAL now: what they use stops being held (the submit counts it as queued). */
  submitting(): void {
    this.release(this.persisted);
    this.persisted = 0;
    this.unreserved = 0;
  }

  /** Reservations refused since the last call (the shard counts them and asks its WAL to recycle). */
  takeRefused(): number {
    const n = this.refused;
    this.refused = 0;
    return n;
  }
}

/** Room kept for records that are never refused: an eighth of the budget, at most 64 MiB. */
export function defaultHeadroom(budget: number): number {
  return Math.floor(Math.min(budget / 8, 64 * 1024 * 1024));
}
