import { configPayloadOf, type GroupEntry, groupEntryOf } from "./group-entry.ts";
import { decodeConfig } from "./member-config.ts";
import type { BaseInfo, Csn, Lsn, MemberConfig, Pid } from "./types.ts";

/**
 * One replica's log in memory: contiguous group entries from `base.lsn` to `end`, plus the config history
 * (the config in effect is the latest config entry in the log, committed or not).
 */
/** Entries whose body was dropped from memory; `body` of such an entry is empty and must be loaded. */
const cold = new WeakSet<GroupEntry>();
const NO_BODY = new Uint8Array(0);

export class GroupLog {
  private entries: GroupEntry[] = [];
  /** Entries below this index may be cold (their bodies live only in the host's storage). */
  private hotFrom = 0;
  private loadCold: ((lsn: Lsn) => GroupEntry | undefined) | undefined;
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
  /** The latest config entry below the boundary `end` (the base's config if none is): e.g. the latest committed one. */
  configBelow(end: Lsn): MemberConfig {
    for (let i = this.configs.length - 1; i >= 0; i--) {
      const c = this.configs[i]!;
      if (c.lsn < end) return c.config;
    }
    return this.baseInfo.config;
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
    // Nearly every lookup is of the newest entries (pushes, acks, commit): try them before searching.
    const n = this.entries.length;
    for (let k = n - 1; k >= Math.max(this.head, n - 2); k--) {
      const e = this.entries[k]!;
      if (lsn >= e.lsn && lsn < e.end) return k;
    }
    let lo = this.head;
    let hi = n - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const e = this.entries[mid]!;
      if (lsn < e.lsn) hi = mid - 1;
      else if (lsn >= e.end) lo = mid + 1;
      else return mid;
    }
    return -1;
  }

  /** The group entry containing `lsn`, with its body (loaded from storage if it was evicted). */
  containing(lsn: Lsn): GroupEntry | undefined {
    const i = this.indexOf(lsn);
    return i < 0 ? undefined : this.hot(i);
  }

  /** Lets bodies of old entries leave memory: `load` reads a group entry back from durable storage. */
  setColdLoader(load: (lsn: Lsn) => GroupEntry | undefined): void {
    this.loadCold = load;
  }

  /**
   * Drops from memory the bodies of entries that end at or below `lsn` (which the caller guarantees are
   * durable in its storage); their headers stay, so the log's structure costs a few dozen bytes an entry.
   */
  evictBodies(lsn: Lsn): void {
    if (!this.loadCold) return;
    let i = Math.max(this.hotFrom, this.head);
    for (; i < this.entries.length; i++) {
      const e = this.entries[i]!;
      if (e.end > lsn) break;
      if (cold.has(e)) continue;
      const header = groupEntryOf(e, NO_BODY);
      cold.add(header);
      this.entries[i] = header;
    }
    this.hotFrom = i;
  }

  private hot(i: number): GroupEntry {
    const e = this.entries[i]!;
    if (!cold.has(e)) return e;
    const loaded = this.loadCold?.(e.lsn);
    if (
      !loaded ||
      loaded.lsn !== e.lsn ||
      loaded.end !== e.end ||
      loaded.accum !== e.accum ||
      loaded.pid !== e.pid
    ) {
      throw new Error(`group entry at ${e.lsn} is not in storage as it was written`);
    }
    return loaded;
  }

  /** The group entry starting exactly at `lsn`. */
  startingAt(lsn: Lsn): GroupEntry | undefined {
    const e = this.containing(lsn);
    return e && e.lsn === lsn ? e : undefined;
  }

  /** pid of the group entry ending exactly at `end`; undefined if no entry boundary is there. */
  pidEndingAt(end: Lsn): Pid | undefined {
    if (end === this.baseInfo.lsn) return this.baseInfo.pid;
    const i = this.indexOf(end - 1);
    const e = i < 0 ? undefined : this.entries[i];
    return e && e.end === end ? e.pid : undefined;
  }

  /** Accumulated checksum of the log up to the boundary `end`. */
  accumEndingAt(end: Lsn): number | undefined {
    if (end === this.baseInfo.lsn) return this.baseInfo.accum;
    const i = this.indexOf(end - 1);
    const e = i < 0 ? undefined : this.entries[i];
    return e && e.end === end ? e.accum : undefined;
  }

  /** Group entries from the boundary `from`, at most `maxBytes` of bodies (always at least one entry). */
  range(from: Lsn, maxBytes: number, to: Lsn = Number.MAX_SAFE_INTEGER): GroupEntry[] {
    const out: GroupEntry[] = [];
    let i = from === this.end ? this.entries.length : this.indexOf(from);
    if (i < 0) return out;
    let bytes = 0;
    for (; i < this.entries.length; i++) {
      const meta = this.entries[i]!;
      const size = meta.end - meta.lsn;
      if (meta.end > to || (out.length > 0 && bytes + size > maxBytes)) break;
      out.push(this.hot(i));
      bytes += size;
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
    this.hotFrom = Math.min(this.hotFrom, i);
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
      this.hotFrom = Math.max(0, this.hotFrom - this.head);
      this.head = 0;
    }
    return this.baseInfo;
  }

  /** Rebuild: drops the whole log and starts again at another replica's base. */
  resetTo(base: BaseInfo): void {
    this.entries = [];
    this.head = 0;
    this.hotFrom = 0;
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
    return e && e.end <= to ? this.hot(found) : undefined;
  }

  /** Every live group entry, oldest first (checkers use this); bodies of evicted entries are empty. */
  all(): readonly GroupEntry[] {
    return this.head === 0 ? this.entries : this.entries.slice(this.head);
  }
}

/** The read-only face of a replica's log that hosts, simulators and checkers may inspect. */
export type LogView = Pick<
  GroupLog,
  | "base"
  | "end"
  | "lastPid"
  | "lastCsn"
  | "size"
  | "config"
  | "configLsn"
  | "containing"
  | "startingAt"
  | "range"
  | "all"
>;
