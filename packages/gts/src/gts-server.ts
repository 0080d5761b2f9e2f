import type { GtsHost } from "./gts-host.ts";

export interface GtsServerOptions {
  /** How far ahead of now a ceiling reaches (DESIGN: e.g. 3 s). */
  readonly windowUs?: number;
  /** One ceiling moves at most this far past the previous one, so a clock that jumps ahead is followed in steps. */
  readonly maxStepUs?: number;
}

export type GtsAnswer =
  | { readonly ok: true; readonly start: number; readonly count: number }
  | { readonly ok: false; readonly code: "NOT_LEADER"; readonly leader?: string };

interface Waiter {
  readonly count: number;
  readonly resolve: (a: GtsAnswer) => void;
}

/**
 * The timestamp service on the GTS group's leader. It serves only below a committed ceiling entry, so a
 * successor, which starts above every ceiling in its log, never hands out a value at or below one already
 * served; and it checks its lease after generating a range and before answering, so a deposed leader goes
 * silent instead of serving stale values. Ranges follow physical time (microseconds) where they can.
 */
export class GtsServer {
  private readonly windowUs: number;
  private readonly maxStepUs: number;
  private pid = 0;
  /** Last value handed out (or the start point of this leadership). */
  private last = 0;
  /** Values below this are covered by a committed ceiling of this leadership. */
  private ceiling = 0;
  private extending: Promise<void> | undefined;
  private waiters: Waiter[] = [];
  readonly stats = { served: 0, requests: 0, ceilings: 0, refused: 0 };

  constructor(
    private readonly host: GtsHost,
    options: GtsServerOptions = {},
  ) {
    this.windowUs = options.windowUs ?? 3_000_000;
    this.maxStepUs = options.maxStepUs ?? 10 * this.windowUs;
  }

  /** `count` consecutive timestamps, strictly above every one served before by any leader. */
  serve(count: number): Promise<GtsAnswer> {
    this.stats.requests++;
    const pid = this.host.leaderPid();
    if (pid === 0) return Promise.resolve(this.notLeader());
    if (pid !== this.pid) this.takeOver(pid);
    const now = this.host.nowUs();
    if (
      this.ceiling > 0 &&
      this.waiters.length === 0 &&
      Math.max(this.last + 1, now) + count <= this.ceiling
    ) {
      const answer = this.issue(count, now);
      if (this.ceiling - this.last < this.windowUs / 2) this.extend();
      return Promise.resolve(answer);
    }
    return new Promise((resolve) => {
      this.waiters.push({ count, resolve });
      this.extend();
    });
  }

  /** A new leadership: start above every ceiling the log holds (and above now) once our own one commits. */
  private takeOver(pid: number): void {
    this.pid = pid;
    this.ceiling = 0;
    this.last = Math.max(this.host.committedCeiling(), this.host.nowUs());
    this.extending = undefined;
    for (const w of this.waiters.splice(0)) w.resolve(this.notLeader());
  }

  private issue(count: number, now: number): GtsAnswer {
    const start = Math.max(this.last + 1, now);
    this.last = start + count - 1;
    // Checked after generating the range: a lease that lapsed meanwhile means another leader may serve.
    if (this.host.leaderPid() !== this.pid) return this.notLeader();
    this.stats.served += count;
    return { ok: true, start, count };
  }

  private extend(): void {
    if (this.extending) return;
    const pid = this.pid;
    const now = this.host.nowUs();
    const need = this.waiters.reduce((n, w) => n + w.count, 0);
    const wanted = Math.max(now, this.last) + need + this.windowUs;
    const floor = Math.max(this.ceiling, this.last);
    const target = Math.max(floor + need + 1, Math.min(wanted, floor + this.maxStepUs));
    this.stats.ceilings++;
    this.extending = this.host.appendCeiling(target).then(
      (committed) => this.extended(pid, target, committed),
      () => this.extended(pid, target, false),
    );
  }

  private extended(pid: number, target: number, committed: boolean): void {
    if (pid !== this.pid) return;
    this.extending = undefined;
    if (committed) this.ceiling = Math.max(this.ceiling, target);
    // A ceiling that did not commit (deposed, back-pressure): callers retry rather than spin here.
    if (!committed || this.host.leaderPid() !== pid) {
      for (const w of this.waiters.splice(0)) w.resolve(this.notLeader());
      return;
    }
    const now = this.host.nowUs();
    while (this.waiters.length > 0) {
      const w = this.waiters[0]!;
      if (Math.max(this.last + 1, now) + w.count > this.ceiling) break;
      this.waiters.shift();
      w.resolve(this.issue(w.count, now));
    }
    if (this.waiters.length > 0 || this.ceiling - this.last < this.windowUs / 2) this.extend();
  }

  private notLeader(): GtsAnswer {
    this.stats.refused++;
    const leader = this.host.leaderHint();
    return leader === undefined
      ? { ok: false, code: "NOT_LEADER" }
      : { ok: false, code: "NOT_LEADER", leader };
  }
}
