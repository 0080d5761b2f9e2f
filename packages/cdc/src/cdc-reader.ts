import type { PalfClient } from "@palf/client";
import { GTS_GROUP } from "@palf/gts";
import { CURSOR_GROUP, decodeWatermarks, delay, type WatermarkBatch, WatermarkView } from "@palf/transport";
import type { CdcCheckpoint, CdcEntry, CdcOptions } from "./cdc-types.ts";
import { EntryHeap } from "./entry-heap.ts";
import { GroupCursor } from "./group-cursor.ts";

/**
 * Reads committed entries of many groups and delivers them in one order, (csn, group, lsn), never past the
 * frontier: the lowest watermark over the groups read. An entry at or below the frontier can no longer be
 * preceded by one still to come, so nothing is delivered out of order, through leader changes, a node down
 * (its groups hold the frontier back until they are led again) or groups added and removed.
 */
export class CdcReader implements AsyncIterable<CdcEntry> {
  private readonly cursors = new Map<number, GroupCursor>();
  private readonly heap = new EntryHeap();
  private readonly nodeW = new Map<string, number>();
  private readonly view = new WatermarkView();
  private lastCsn = 0;
  private waiter: (() => void) | undefined;
  private closed = false;
  private error: Error | undefined;
  private readonly unsubscribe: () => void;
  private readonly sweep: NodeJS.Timeout | undefined;
  readonly stats = { batches: 0, badBatches: 0, reads: 0, emptyReads: 0, readErrors: 0, delivered: 0 };

  constructor(
    private readonly client: PalfClient,
    private readonly opts: CdcOptions,
  ) {
    if (!opts.all && (opts.groups === undefined || opts.groups.length === 0))
      throw new Error("openCdc needs groups or all: true");
    const from = opts.from?.groups ?? {};
    for (const g of opts.groups ?? []) this.addGroup(g, from[String(g)] ?? 0);
    if (opts.all) for (const [g, lsn] of Object.entries(from)) this.addGroup(Number(g), lsn);
    this.unsubscribe = client.subscribe("events.watermarks", (_t, payload) => this.onBatch(payload));
    this.sweep = opts.all ? setInterval(() => void this.dropDeleted(), 2000) : undefined;
  }

  /** Starts reading a group from `fromLsn` (its entries are merged from now on). */
  addGroup(group: number, fromLsn = 0): void {
    // The GTS and cursor groups hold the cluster's own bookkeeping, not changes.
    if (group === GTS_GROUP || group === CURSOR_GROUP || this.cursors.has(group)) return;
    this.cursors.set(group, new GroupCursor(group, fromLsn));
  }

  /** Stops reading a group; its undelivered entries are dropped and it no longer holds the frontier. */
  removeGroup(group: number): void {
    this.cursors.delete(group);
    this.wake();
  }

  /** The lowest watermark over the groups read: every entry at or below it has been (or is being) delivered. */
  frontier(): number {
    let f = Number.POSITIVE_INFINITY;
    for (const c of this.cursors.values()) if (c.w < f) f = c.w;
    if (this.opts.all) {
      for (const n of this.client.nodes) f = Math.min(f, this.nodeW.get(n) ?? -1);
    }
    return f === Number.POSITIVE_INFINITY ? -1 : f;
  }

  /** Stores the checkpoint in the reader's cursor (opts.cursor): call it after processing what came before. */
  async commit(): Promise<CdcCheckpoint> {
    const name = this.opts.cursor;
    if (name === undefined) throw new Error("commit() needs a reader opened with a cursor");
    const cp = this.checkpoint();
    await this.client.cursors().save(name, cp, { all: this.opts.all === true });
    return cp;
  }

  checkpoint(): CdcCheckpoint {
    const groups: Record<string, number> = {};
    for (const c of this.cursors.values()) groups[String(c.group)] = c.delivered;
    return { groups, csn: this.lastCsn };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    if (this.sweep) clearInterval(this.sweep);
    this.wake();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<CdcEntry> {
    while (!this.closed) {
      if (this.error) throw this.error;
      const top = this.heap.peek();
      if (top && top.csn <= this.frontier()) {
        this.heap.pop();
        const c = this.cursors.get(top.group);
        if (!c || top.lsn < c.delivered) continue;
        c.delivered = top.lsn + 1;
        c.buffered--;
        this.lastCsn = top.csn;
        this.stats.delivered++;
        if (c.buffered === 0 || this.heap.size < this.maxBuffered() / 2) this.readMore(c);
        yield top;
        continue;
      }
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
  }

  private maxBuffered(): number {
    return this.opts.maxBuffered ?? 100_000;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private onBatch(payload: Uint8Array): void {
    const b = decodeWatermarks(payload);
    if (!b) {
      this.stats.badBatches++;
      return;
    }
    this.stats.batches++;
    this.apply(b);
    this.wake();
  }

  private apply(b: WatermarkBatch): void {
    const now = this.client.runtime.now();
    const applied = this.view.apply(b, (group, _pid, lsn, w) => {
      if (this.opts.all) this.addGroup(group, 0);
      const c = this.cursors.get(group);
      if (!c) return;
      c.lastNamedAt = now;
      c.leader = b.node;
      if (lsn < 0) return;
      c.vouch(w, lsn);
      this.readMore(c);
    });
    // A batch that could not be applied (a gap) says nothing of the groups it would carry.
    if (applied && (this.nodeW.get(b.node) ?? -1) < b.w) this.nodeW.set(b.node, b.w);
  }

  /** Reads a group up to what was vouched for it, unless enough of it waits for the frontier already. */
  private readMore(c: GroupCursor): void {
    if (c.reading || c.next >= c.target || this.closed) return;
    if (this.heap.size >= this.maxBuffered() && c.buffered > 0) return;
    c.reading = true;
    void this.readPage(c).finally(() => {
      c.reading = false;
      if (this.cursors.get(c.group) === c) this.readMore(c);
      this.wake();
    });
  }

  private async readPage(c: GroupCursor): Promise<void> {
    this.stats.reads++;
    try {
      // The node whose batch vouched last leads the group: its committed end is the freshest.
      const page = await this.client.group(c.group).read(c.next, {
        maxEntries: this.opts.pageEntries ?? 1000,
        ...(c.leader === undefined ? {} : { node: c.leader }),
      });
      for (const e of page.entries) {
        if (e.lsn < c.next) continue;
        this.heap.push({ group: c.group, lsn: e.lsn, csn: e.csn, payload: e.payload });
        c.buffered++;
      }
      if (page.next <= c.next) {
        this.stats.emptyReads++;
      }
      c.advance(page.next);
      // Caught up with what this node has committed: the next batch naming the group asks again.
      if (page.next >= page.committedEnd) c.target = Math.min(c.target, page.next);
    } catch (err) {
      this.stats.readErrors++;
      const code = (err as { code?: string }).code;
      if (code === "UNKNOWN_GROUP" && this.opts.all) this.removeGroup(c.group);
      else if (code === "RECYCLED") this.error = err as Error;
      else {
        c.leader = undefined;
        await delay(this.client.runtime, 100);
      }
    }
  }

  /** All groups: a group no batch named for a while and that no node hosts any more was deleted. */
  private async dropDeleted(): Promise<void> {
    const now = this.client.runtime.now();
    for (const c of this.cursors.values()) {
      if (now - c.lastNamedAt < 5000 || c.reading) continue;
      try {
        await this.client.group(c.group).read(c.next, { maxEntries: 1 });
      } catch (err) {
        if ((err as { code?: string }).code === "UNKNOWN_GROUP") this.removeGroup(c.group);
      }
    }
  }
}

/** Opens a CSN-ordered change stream over groups of the cluster (see CdcReader). */
export async function openCdc(client: PalfClient, opts: CdcOptions): Promise<CdcReader> {
  if (opts.cursor !== undefined) {
    const saved = await client.cursors().get(opts.cursor);
    if (saved?.position) opts = { ...opts, from: saved.position };
  }
  const reader = new CdcReader(client, opts);
  await client.flush();
  return reader;
}
