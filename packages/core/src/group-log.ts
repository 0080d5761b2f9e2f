import { configPayloadOf, type GroupEntry } from "./group-entry.ts";
import { decodeConfig } from "./member-config.ts";
import type { BaseInfo, Csn, Lsn, MemberConfig, Pid } from "./types.ts";

/**
 * One replica's log in memory: contiguous group entries from `base.lsn` to `end`, plus the config history
 * (the config in effect is the latest config entry in the log, committed or not).
 */
export class GroupLog {
  private entries: GroupEntry[] = [];
  /** Index of the first live entry in `entries` (recycling drops from the front without copying each time). */
  private head = 0;
  private configs: Array<{ lsn: Lsn; config: MemberConfig }> = [];
  private baseInfo: BaseInfo;

  constructor(base: BaseInfo) {
    this.baseInfo = base;
  }

  get base(): BaseInfo {
    return this.baseInfo;
  }
  get end(): Lsn {
    return this.last()?.end ?? this.baseInfo.lsn;
  }
  get lastPid(): Pid {
    return this.last()?.pid ?? this.baseInfo.pid;
  }
  get lastAccum(): number {
    return this.last()?.accum ?? this.baseInfo.accum;
  }
  get lastCsn(): Csn {
    return this.last()?.maxCsn ?? this.baseInfo.csn;
  }
  get size(): number {
    return this.entries.length - this.head;
  }
  /** The config in effect: the latest config entry in the log, else the one at the base. */
  get config(): MemberConfig {
    return this.configs.at(-1)?.config ?? this.baseInfo.config;
  }
  /** LSN of the latest config entry (or the base, if none is above it). */
  get configLsn(): Lsn {
    return this.configs.at(-1)?.lsn ?? this.baseInfo.lsn;
  }

  private last(): GroupEntry | undefined {
    return this.entries.length > this.head ? this.entries[this.entries.length - 1] : undefined;
  }

  append(ge: GroupEntry): void {
    if (ge.lsn !== this.end) throw new Error(`append at ${ge.lsn} but log ends at ${this.end}`);
    this.entries.push(ge);
    const cfg = configPayloadOf(ge);
    if (cfg) this.configs.push({ lsn: cfg.lsn, config: decodeConfig(cfg.payload) });
  }

  /** Index (into `entries`) of the group entry containing `lsn`, or -1. */
  private indexOf(lsn: Lsn): number {
    let lo = this.head;
    let hi = this.entries.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const e = this.entries[mid]!;
      if (lsn < e.lsn) hi = mid - 1;
      else if (lsn >= e.end) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /** The group entry containing `lsn`. */
  containing(lsn: Lsn): GroupEntry | undefined {
    const i = this.indexOf(lsn);
    return i < 0 ? undefined : this.entries[i];
  }

  /** The group entry starting exactly at `lsn`. */
  startingAt(lsn: Lsn): GroupEntry | undefined {
    const e = this.containing(lsn);
    return e && e.lsn === lsn ? e : undefined;
  }

  /** pid of the group entry ending exactly at `end`; undefined if no entry boundary is there. */
  pidEndingAt(end: Lsn): Pid | undefined {
    if (end === this.baseInfo.lsn) return this.baseInfo.pid;
    const e = this.containing(end - 1);
    return e && e.end === end ? e.pid : undefined;
  }

  /** Accumulated checksum of the log up to the boundary `end`. */
  accumEndingAt(end: Lsn): number | undefined {
    if (end === this.baseInfo.lsn) return this.baseInfo.accum;
    const e = this.containing(end - 1);
    return e && e.end === end ? e.accum : undefined;
  }

  /** Group entries from the boundary `from`, at most `maxBytes` of bodies (always at least one entry). */
  range(from: Lsn, maxBytes: number, to: Lsn = Number.MAX_SAFE_INTEGER): GroupEntry[] {
    const out: GroupEntry[] = [];
    let i = from === this.end ? this.entries.length : this.indexOf(from);
    if (i < 0) return out;
    let bytes = 0;
    for (; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.end > to || (out.length > 0 && bytes + e.body.length > maxBytes)) break;
      out.push(e);
      bytes += e.body.length;
    }
    return out;
  }

  /** Start of the run of entries with the same pid as the entry containing `lsn` (a Raft-style retry hint). */
  runStart(lsn: Lsn): Lsn {
    let i = this.indexOf(lsn);
    if (i < 0) return Math.min(lsn, this.end);
    const pid = this.entries[i]!.pid;
    while (i > this.head && this.entries[i - 1]!.pid === pid) i--;
    return this.entries[i]!.lsn;
  }

  /** Drops every group entry at or above the boundary `lsn`. */
  truncateFrom(lsn: Lsn): void {
    if (lsn < this.baseInfo.lsn) throw new Error(`truncate at ${lsn} below base ${this.baseInfo.lsn}`);
    const i = lsn === this.end ? this.entries.length : this.indexOf(lsn);
    if (i < 0 || (i < this.entries.length && this.entries[i]!.lsn !== lsn)) {
      throw new Error(`truncate at ${lsn}: not an entry boundary`);
    }
    this.entries.length = i;
    while (this.configs.length > 0 && this.configs.at(-1)!.lsn >= lsn) this.configs.pop();
  }

  /** Recycling: forgets entries below the boundary `lsn` (which must be in the log). Returns the new base. */
  advanceBase(lsn: Lsn): BaseInfo | undefined {
    if (lsn <= this.baseInfo.lsn) return undefined;
    const i = lsn === this.end ? this.entries.length : this.indexOf(lsn);
    if (i < 0 || (i < this.entries.length && this.entries[i]!.lsn !== lsn)) return undefined;
    const prev = this.entries[i - 1]!;
    let config = this.baseInfo.config;
    while (this.configs.length > 0 && this.configs[0]!.lsn < lsn) config = this.configs.shift()!.config;
    this.baseInfo = { lsn, pid: prev.pid, accum: prev.accum, csn: prev.maxCsn, config };
    this.head = i;
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
    return this.baseInfo;
  }

  /** Rebuild: drops the whole log and starts again at another replica's base. */
  resetTo(base: BaseInfo): void {
    this.entries = [];
    this.head = 0;
    this.configs = [];
    this.baseInfo = base;
  }

  /** First group entry whose maxCsn >= csn, at or after `from` and below `to` (CSN grows with LSN). */
  firstWithCsnAtLeast(csn: Csn, to: Lsn): GroupEntry | undefined {
    let lo = this.head;
    let hi = this.entries.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.entries[mid]!.maxCsn >= csn) {
        found = mid;
        hi = mid - 1;
      } else lo = mid + 1;
    }
    const e = found < 0 ? undefined : this.entries[found];
    return e && e.end <= to ? e : undefined;
  }

  /** Every live group entry, oldest first (recovery checks and simulators use this). */
  all(): readonly GroupEntry[] {
    return this.head === 0 ? this.entries : this.entries.slice(this.head);
  }
}
