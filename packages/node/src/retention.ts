import type { Replica } from "@palf/core";
import { GTS_GROUP } from "@palf/gts";
import {
  CURSOR_GROUP,
  CursorTable,
  decodeCursorRecord,
  decodeResponse,
  encodeRpc,
  type Transport,
} from "@palf/transport";
import type { Logger } from "pino";
import type { Runtime, TimerHandle } from "./runtime.ts";

/** The cluster's log retention policy: a group keeps at least this much of its committed log. */
export interface RetentionOptions {
  /** Keep at least the newest `bytes` of each group's committed log. */
  readonly bytes?: number;
  /** Keep at least the entries committed in the last `ms` milliseconds. */
  readonly ms?: number;
  /** How often the bases advance (ms). Default 1000. */
  readonly intervalMs?: number;
  /** Test-only: recycle past registered cursors (breaks "never past a cursor"; its guard test must fail). */
  readonly unsafeIgnoreCursors?: boolean;
}

export interface RetentionHost {
  readonly nodeId: string;
  readonly rt: Runtime;
  readonly transport: Transport;
  readonly log: Logger;
  replica(group: number): Replica | undefined;
  replicas(): Iterable<Replica>;
  touch(group: number): void;
  /** Lets the WALs drop the segments the new bases freed. */
  recycle(): void;
  /** Whether this node ever saw the cursor group, kept across restarts (a marker file in the data dir). */
  cursorGroupSeen(): boolean;
  markCursorGroupSeen(): void;
}

/** Age samples kept per group: enough to find the LSN of "retainMs ago" within an eighth of it. */
const SAMPLES = 10;

/**
 * Advances every local replica's base by the policy (older than `ms`, or beyond the newest `bytes`: the
 * larger of the two targets), never past a position a registered cursor still needs. Cursors are read
 * from the cursor group first (the local replica, else its members); while they cannot be read, nothing
 * advances: an unknown cursor may hold any group. Replicas that lag below a new base rebuild from it.
 */
export class Retention {
  private readonly table = new CursorTable();
  private next = 0;
  private timer: TimerHandle | undefined;
  private running = false;
  private readonly samples = new Map<number, Array<{ at: number; lsn: number }>>();
  readonly stats = { ticks: 0, advanced: 0, heldByCursor: 0, cursorReadFailures: 0 };

  constructor(
    private readonly host: RetentionHost,
    private readonly o: RetentionOptions,
  ) {}

  start(): void {
    this.timer = this.host.rt.setInterval(() => void this.tick(), this.o.intervalMs ?? 1000);
  }

  stop(): void {
    this.host.rt.clearInterval(this.timer);
  }

  /** One round: read new cursor entries, then advance what the policy and the cursors allow. */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      this.stats.ticks++;
      if (!(await this.readCursors())) {
        this.stats.cursorReadFailures++;
        return;
      }
      const now = this.host.rt.now();
      let advanced = 0;
      for (const r of [...this.host.replicas()]) {
        if (r.group === GTS_GROUP || r.group === CURSOR_GROUP || r.halted) continue;
        const policy = this.target(r, now);
        const hold = this.o.unsafeIgnoreCursors ? Number.POSITIVE_INFINITY : this.table.holdFor(r.group);
        const to = Math.min(policy, hold);
        if (hold < policy) this.stats.heldByCursor++;
        if (to <= r.base.lsn) continue;
        if (r.advanceBase(to, now)) {
          advanced++;
          this.host.touch(r.group);
        }
      }
      this.stats.advanced += advanced;
      if (advanced > 0) this.host.recycle();
    } catch (err) {
      this.host.log.warn({ err }, "retention round");
    } finally {
      this.running = false;
    }
  }

  /** The base the policy asks for: the larger of the two targets (0 when no policy is set). */
  private target(r: Replica, now: number): number {
    const end = r.committedEnd;
    let to = 0;
    if (this.o.bytes !== undefined) to = Math.max(to, end - this.o.bytes);
    if (this.o.ms !== undefined) {
      const list = this.samples.get(r.group) ?? [];
      this.samples.set(r.group, list);
      const last = list.at(-1);
      if (!last || now - last.at >= this.o.ms / (SAMPLES - 2)) list.push({ at: now, lsn: end });
      // The newest sample at least `ms` old: everything committed before it is old enough.
      let old: number | undefined;
      while (list.length > 1 && now - list[1]!.at >= this.o.ms) list.shift();
      if (list[0] && now - list[0].at >= this.o.ms) old = list[0].lsn;
      if (old !== undefined) to = Math.max(to, old);
    }
    return to;
  }

  /** Reads the cursor group's committed entries past what was read; false when it cannot be read. */
  private async readCursors(): Promise<boolean> {
    const local = this.host.replica(CURSOR_GROUP);
    if (local) {
      this.seen();
      if (local.base.lsn > this.next) return false;
      for (const e of local.entries(this.next)) {
        const rec = decodeCursorRecord(e.payload);
        if (rec) this.table.apply(rec);
        this.next = e.lsn + 1;
      }
      if (local.role === "leader") return true;
      // A follower may not know yet that the latest cursor entries committed: its leader does. Every
      // replica's committed entries are a prefix of one log, so reading on from there just continues.
      const leader = local.leaderHint;
      return leader !== undefined && leader !== this.host.nodeId && (await this.readFrom(leader)) === "read";
    }
    const peers = new Set<string>();
    for (const r of this.host.replicas())
      for (const m of r.config.members) if (m !== this.host.nodeId) peers.add(m);
    let unknown = 0;
    let read = false;
    // Ask every peer: the longest committed prefix (the cursor group's leader's) is what counts.
    for (const peer of peers) {
      const out = await this.readFrom(peer);
      if (out === "read") read = true;
      if (out === "unknown") unknown++;
    }
    if (read) {
      this.seen();
      return true;
    }
    // Peers answered that they host no cursor group and this node never saw one: no cursor holds anything.
    // Once seen, an unreadable cursor group holds everything (its cursors still count).
    return unknown > 0 && !this.host.cursorGroupSeen();
  }

  private seen(): void {
    if (!this.host.cursorGroupSeen()) this.host.markCursorGroupSeen();
  }

  private async readFrom(peer: string): Promise<"read" | "unknown" | "failed"> {
    for (;;) {
      let res: ReturnType<typeof decodeResponse>;
      try {
        const req = encodeRpc({ op: "read", group: CURSOR_GROUP, fromLsn: this.next, maxEntries: 1000 });
        res = decodeResponse(await this.host.transport.request(peer, req, 2000));
      } catch {
        return "failed";
      }
      if (!res.ok) return res.error.code === "UNKNOWN_GROUP" ? "unknown" : "failed";
      if (res.op !== "read") return "failed";
      for (const e of res.entries) {
        const rec = decodeCursorRecord(e.payload);
        if (rec) this.table.apply(rec);
      }
      const done = res.next <= this.next || res.next >= res.committedEnd;
      this.next = Math.max(this.next, res.next);
      if (done) return "read";
    }
  }
}
