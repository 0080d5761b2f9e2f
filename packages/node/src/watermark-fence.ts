// The leader-answered read fence: a reader at snapshot s asks the group's leader for a watermark w >= s.
// The answer is a vouch a watermark round of this node published (the same quad the watermark stream
// carries), so it is exactly as safe as a round's (docs/design.md, "Watermarks"); what is new is that the
// round starts at once when a reader waits, instead of at the next tick.
import type { Replica } from "@palf/core";
import { WATERMARK_GONE } from "@palf/transport";
import type { NodeRuntime, TimerHandle } from "./runtime.ts";
import type { WatermarkPublisher } from "./watermarks.ts";

export type FenceAnswer =
  | { readonly w: number; readonly lsn: number }
  /**
   * This node does not lead the group (the reader asks the leader), no vouch came in time, or `csn` is not
   * a timestamp GTS gave out before the request (a round fetched after it came back lower).
   */
  | { readonly error: "NOT_LEADER" | "TIMEOUT" | "BAD_REQUEST"; readonly leader?: string };

/**
 * Test-only breach of the fence's rule (a fence answers only a vouch a round published), for
 * watermark-fence.test.ts's guard. Production never sets it.
 */
export interface FenceUnsafeSwitches {
  /**
   * Answer from the open round: its floor is raised and its LSN noted, but its acks and commit have not
   * proved it, so a leader deposed meanwhile (whose successor's floor is older) is vouched for.
   */
  readonly fenceFromOpenRound?: boolean;
}

interface FenceWaiter {
  readonly group: number;
  readonly csn: number;
  /** Rounds fetched before the request (publisher.requested): a later one's value is above an honest csn. */
  readonly fetchesBefore: number;
  readonly resolve: (a: FenceAnswer) => void;
  timer: TimerHandle | undefined;
}

export class WatermarkFence {
  private waiters: FenceWaiter[] = [];
  private queued = false;
  /** The last vouch each batch named per group (a busy group is often named at an older round's w). */
  private readonly named = new Map<number, { readonly w: number; readonly lsn: number }>();
  /** `asked`: fence requests; `answeredAtOnce`: from a vouch already published; `rounds`: rounds started for them. */
  readonly stats = { asked: 0, answeredAtOnce: 0, rounds: 0, timeouts: 0 };

  constructor(
    private readonly publisher: WatermarkPublisher,
    private readonly replica: (group: number) => Replica | undefined,
    private readonly rt: NodeRuntime,
    private readonly unsafe: FenceUnsafeSwitches = {},
  ) {
    publisher.onPublished((groups) => {
      for (let i = 0; i < groups.length; i += 4) {
        const group = groups[i]!;
        const lsn = groups[i + 2]!;
        if (lsn >= 0) this.named.set(group, { w: groups[i + 3]!, lsn });
        else if (lsn === WATERMARK_GONE) this.named.delete(group);
      }
      this.settle();
    });
  }

  /** Resolves with a published vouch of `group` at w >= csn, once one exists (many readers share a round). */
  ask(group: number, csn: number, timeoutMs: number): Promise<FenceAnswer> {
    this.stats.asked++;
    const now = this.answer(group, csn);
    if (now !== undefined) {
      this.stats.answeredAtOnce++;
      return Promise.resolve(now);
    }
    return new Promise((resolve) => {
      const wt: FenceWaiter = {
        group,
        csn,
        fetchesBefore: this.publisher.requested,
        resolve,
        timer: undefined,
      };
      wt.timer = this.rt.setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== wt);
        this.stats.timeouts++;
        resolve({ error: "TIMEOUT" });
      }, timeoutMs);
      this.waiters.push(wt);
      this.roundIfNeeded();
    });
  }

  /** A vouch that answers now, a refusal, or undefined (wait for a round). */
  private answer(group: number, csn: number): FenceAnswer | undefined {
    if (this.unsafe.fenceFromOpenRound) {
      const o = this.publisher.openRoundOf(group);
      if (o !== undefined && o.w >= csn) return o;
    }
    const v = this.publisher.vouchOf(group);
    if (v !== undefined && v.w >= csn) return v;
    const n = this.named.get(group);
    if (n !== undefined && n.w >= csn) return n;
    const r = this.replica(group);
    if (r === undefined || r.role !== "leader" || r.halted) {
      const hint = r?.leaderHint;
      return { error: "NOT_LEADER", ...(hint ? { leader: hint } : {}) };
    }
    return undefined;
  }

  private settle(): void {
    if (this.waiters.length === 0) return;
    const still: FenceWaiter[] = [];
    for (const wt of this.waiters) {
      // GTS never goes back: a value fetched after the request below csn means csn was never given out, and
      // more rounds would not reach it (a hostile snapshot far ahead must not keep rounds running).
      const a =
        this.publisher.valueFetch > wt.fetchesBefore && this.publisher.value < wt.csn
          ? ({ error: "BAD_REQUEST" } as const)
          : this.answer(wt.group, wt.csn);
      if (a === undefined) still.push(wt);
      else {
        this.rt.clearTimeout(wt.timer);
        wt.resolve(a);
      }
    }
    this.waiters = still;
    this.roundIfNeeded();
  }

  /**
   * Starts a round for waiters that the newest round's value does not cover. One at a time: an open round
   * is left to finish (a new one would force it out before its busy groups committed), and the next starts when it publishes.
   */
  private roundIfNeeded(): void {
    if (this.queued || this.waiters.length === 0) return;
    this.queued = true;
    // Once per turn: the readers that asked in this turn share the round.
    this.rt.setImmediate(() => {
      this.queued = false;
      // Every waiter left needs a newer round: a reader's snapshot came from GTS before its request, so a
      // round fetching its value after the request covers it (its group committing the noted LSN aside).
      if (this.waiters.length === 0 || this.publisher.roundOpen) return;
      this.stats.rounds++;
      this.publisher.wanted();
    });
  }
}
