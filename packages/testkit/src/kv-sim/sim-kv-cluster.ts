/**
 * The PALF side of the store simulator, on the simulator's clock: one log per group (LSN = byte offset,
 * csn = max(refCsn, lastCsn + 1), as DESIGN.md section 1 says), a GTS that follows true time in hybrid form
 * (milliseconds plus a counter), watermark rounds, and per-caller views that add latency and faults: an
 * append that FAILED, one whose answer is lost (applied or not), a read that errs, a caller cut off from
 * some groups (a partition between a client and some participants), and lost commit records to the
 * participants that are not a transaction's primary. Everything is an event of the caller's process, so a
 * dead process learns nothing and a seed replays exactly.
 */
import type { Prng } from "@palf/core";
import { decodeRecord, encodeRecord, type KvCluster, type KvLogPage, type PartitionEntry } from "@palf/kv";
import { MemoryPartitionLog } from "@palf/kv/testing";
import { SimNetwork, type SimTransport } from "../node-sim/sim-network.ts";
import { type Proc, type SimRuntime, SimScheduler } from "../node-sim/sim-scheduler.ts";
import type { KvSimBackend } from "./kv-sim-backend.ts";

/** How often the faults below hit one call (0 = never); changed while the seed runs, zeroed to heal. */
export interface KvClusterFaults {
  /** An append fails for sure (never committed). */
  failedAppend: number;
  /** An append's answer is lost (it may or may not be committed): INDETERMINATE after the timeout. */
  lostAnswer: number;
  /** A commit record to a participant that is not the primary is lost (never committed). */
  lostCommitRecord: number;
  /** A read of a group errs. */
  readError: number;
  /** A call takes up to `slowMs` more. */
  slow: number;
  slowMs: number;
}

export const NO_KV_CLUSTER_FAULTS: KvClusterFaults = {
  failedAppend: 0,
  lostAnswer: 0,
  lostCommitRecord: 0,
  readError: 0,
  slow: 0,
  slowMs: 0,
};

/** Why an append or read did not succeed, shaped as the real client's errors (`code`). */
function clusterError(code: "FAILED" | "INDETERMINATE" | "UNAVAILABLE", message: string): Error {
  return Object.assign(new Error(message), { code });
}

/** The simulated PALF groups of one seed, shared by every process of the store: the "memory" backend. */
export class SimKvCluster implements KvSimBackend {
  readonly kind = "memory";
  readonly sched = new SimScheduler(20_000_000);
  readonly net: SimNetwork;
  private healed = false;
  readonly faults: KvClusterFaults = { ...NO_KV_CLUSTER_FAULTS };
  /** Caller -> groups it cannot reach (both ways). */
  readonly cut = new Map<string, Set<number>>();
  readonly stats = { appends: 0, failed: 0, lostAnswers: 0, lostCommitRecords: 0, readErrors: 0, reads: 0 };
  private readonly logs = new Map<number, MemoryPartitionLog>();
  private gts = 0;
  /** txn id -> group of its primary (learned from prepares), to tell which commit records are the decision. */
  private readonly primaryGroup = new Map<string, number>();
  private readonly watchers = new Set<{
    readonly proc: Proc;
    readonly fn: (group: number, w: number, lsn: number) => void;
  }>();

  constructor(
    private readonly rng: Prng,
    /** The partitions' groups, partition by partition. */
    readonly groups: readonly number[],
    /** The physical part of GTS moves in steps of this many ms (see nextTimestamp). */
    private readonly gtsTickMs = 1,
    /** Time between watermark rounds (ms). */
    watermarkEveryMs = 50,
  ) {
    this.net = new SimNetwork("sim", this.sched, rng);
    for (const g of groups) this.logs.set(g, new MemoryPartitionLog());
    const round = () => {
      this.watermarkRound();
      this.sched.at(this.sched.now + watermarkEveryMs, round);
    };
    this.sched.at(watermarkEveryMs, round);
  }

  /** Every committed entry of a group, in LSN order (for the checks; nothing of the store reads this). */
  entries(group: number, _atLeast?: number): Promise<readonly PartitionEntry[]> {
    return Promise.resolve(this.log(group).entries);
  }

  async start(): Promise<boolean> {
    return true;
  }

  cutOff(proc: Proc, _transport: SimTransport, groups: readonly number[], ms: number): void {
    this.cut.set(proc.name, new Set(groups));
    this.sched.at(this.sched.now + ms, () => this.cut.delete(proc.name));
  }

  /** An episode of append and read faults (lost commit records among them), or a burst of read fences. */
  injectFault(rng: Prng, log: (line: string) => void): void {
    if (rng.chance(0.4)) {
      const g = rng.pick(this.groups);
      const n = rng.int(100, 1000);
      this.fenceBurst(g, n);
      log(`${n} read fences on group ${g} at once`);
      return;
    }
    const f = this.faults;
    f.failedAppend = rng.next() * 0.05;
    f.lostAnswer = rng.next() * 0.05;
    f.lostCommitRecord = rng.next() * 0.8;
    f.readError = rng.next() * 0.05;
    f.slow = rng.next() * 0.1;
    f.slowMs = rng.next() * 1500;
    log(`append faults ${JSON.stringify(f)}`);
    this.sched.at(this.sched.now + 500 + rng.next() * 3000, () => {
      if (!this.healed) Object.assign(f, { failedAppend: 0, lostAnswer: 0, readError: 0 });
    });
  }

  heal(): void {
    this.healed = true;
    Object.assign(this.faults, NO_KV_CLUSTER_FAULTS);
    this.cut.clear();
  }

  async finish(): Promise<string[]> {
    return [];
  }

  private log(group: number): MemoryPartitionLog {
    const l = this.logs.get(group);
    if (l === undefined) throw clusterError("FAILED", `no group ${group}`);
    return l;
  }

  /**
   * A GTS value: strictly above every one given before, and at least true time cut to the GTS tick (in
   * microseconds). Within one tick values only count up, as do busy groups' CSNs, so a commit version can
   * be ahead of GTS when the coordinator is done: what the commit wait is for.
   */
  nextTimestamp(): number {
    this.gts = Math.max(this.gts + 1, Math.floor(this.sched.now / this.gtsTickMs) * this.gtsTickMs * 1000);
    return this.gts;
  }

  private commit(group: number, payload: Uint8Array, refCsn: number): { lsn: number; csn: number } {
    const { lsn, csn } = this.log(group).append(payload, refCsn);
    this.stats.appends++;
    const d = decodeRecord(payload);
    if (d.ok && d.record.type === "prepare")
      this.primaryGroup.set(d.record.txnId, this.groups[d.record.primary] ?? -1);
    return { lsn, csn };
  }

  /**
   * A burst of `n` read fences on one group at the current GTS value (many readers fencing one partition at
   * once): its CSNs count up past GTS until the next tick or watermark round.
   */
  fenceBurst(group: number, n: number): void {
    const fence = encodeRecord({ type: "fence" });
    for (let i = 0; i < n; i++) this.commit(group, fence, this.gts);
  }

  /** One watermark round: each group's CSN floor is raised to a fresh GTS value w, vouched at its log end. */
  private watermarkRound(): void {
    const w = this.nextTimestamp();
    for (const [group, l] of this.logs) {
      l.raiseFloor(w);
      const lsn = l.end;
      for (const wt of this.watchers) {
        if (wt.proc.dead || this.cut.get(wt.proc.name)?.has(group)) continue;
        this.sched.at(this.sched.now + this.latency(), () => wt.fn(group, w, lsn), wt.proc);
      }
    }
  }

  private latency(): number {
    let d = 0.1 + this.rng.next() * 2;
    if (this.rng.chance(this.faults.slow)) d += this.rng.next() * this.faults.slowMs;
    return d;
  }

  private isLostCommitRecord(group: number, payload: Uint8Array): boolean {
    if (this.faults.lostCommitRecord === 0) return false;
    const d = decodeRecord(payload);
    if (!d.ok || d.record.type !== "commit") return false;
    const primary = this.primaryGroup.get(d.record.txnId);
    if (primary === undefined || primary === group || !this.rng.chance(this.faults.lostCommitRecord))
      return false;
    this.stats.lostCommitRecords++;
    return true;
  }

  /** The cluster as the process `proc` sees it (named by its proc, whose death silences every answer). */
  view(proc: Proc, _rt?: SimRuntime, _transport?: SimTransport): KvCluster {
    const timeoutMs = 3000;
    const cutOff = (group: number) => this.cut.get(proc.name)?.has(group) === true;
    const later = <T>(fn: () => T, extraMs = 0): Promise<T> =>
      new Promise((resolve, reject) => {
        this.sched.at(
          this.sched.now + this.latency() + extraMs,
          () => {
            try {
              resolve(fn());
            } catch (e) {
              reject(e);
            }
          },
          proc,
        );
      });
    return {
      append: (group, payload, refCsn) =>
        new Promise((resolve, reject) => {
          // The request travels to the leader...
          this.sched.at(this.sched.now + this.latency(), () => {
            if (cutOff(group)) {
              this.sched.at(
                this.sched.now + timeoutMs,
                () => reject(clusterError("INDETERMINATE", `append to group ${group} timed out`)),
                proc,
              );
              return;
            }
            if (this.rng.chance(this.faults.failedAppend) || this.isLostCommitRecord(group, payload)) {
              this.stats.failed++;
              this.sched.at(
                this.sched.now + this.latency(),
                () => reject(clusterError("FAILED", `append to group ${group} failed`)),
                proc,
              );
              return;
            }
            const lost = this.rng.chance(this.faults.lostAnswer);
            const applied = !lost || this.rng.chance(0.5);
            const at = applied ? this.commit(group, payload, refCsn) : undefined;
            if (lost) {
              this.stats.lostAnswers++;
              this.sched.at(
                this.sched.now + timeoutMs,
                () =>
                  reject(clusterError("INDETERMINATE", `the answer of an append to group ${group} was lost`)),
                proc,
              );
              return;
            }
            // ...and the answer travels back (unless the caller was cut off meanwhile).
            this.sched.at(
              this.sched.now + this.latency(),
              () => {
                if (cutOff(group))
                  this.sched.at(
                    this.sched.now + timeoutMs,
                    () => reject(clusterError("INDETERMINATE", `append to group ${group} timed out`)),
                    proc,
                  );
                else resolve(at!);
              },
              proc,
            );
          });
        }),
      read: (group, fromLsn) =>
        later((): KvLogPage => {
          this.stats.reads++;
          if (cutOff(group)) throw clusterError("UNAVAILABLE", `group ${group} is unreachable`);
          if (this.rng.chance(this.faults.readError)) {
            this.stats.readErrors++;
            throw clusterError("UNAVAILABLE", `read of group ${group} failed`);
          }
          const l = this.log(group);
          let i = firstAtOrAbove(l.entries, fromLsn);
          const page: PartitionEntry[] = [];
          while (i < l.entries.length && page.length < 200) page.push(l.entries[i++]!);
          const last = page[page.length - 1];
          const next = last === undefined ? Math.max(fromLsn, l.end) : last.lsn + last.payload.length + 16;
          return { entries: page, next, committedEnd: l.end };
        }),
      timestamp: () => later(() => this.nextTimestamp()),
      waitGtsAbove: async (csn) => {
        for (;;) {
          const t = await later(() => this.nextTimestamp());
          if (t > csn) return t;
          // GTS follows true time: wait until it has passed csn.
          await later(() => undefined, Math.max(1, (csn - t) / 1000));
        }
      },
      onWatermark: (fn) => {
        const wt = { proc, fn };
        this.watchers.add(wt);
        return () => this.watchers.delete(wt);
      },
    };
  }
}

function firstAtOrAbove(entries: readonly PartitionEntry[], lsn: number): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (entries[mid]!.lsn < lsn) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
