import { isGroupId, MAX_GROUP_ID } from "@palf/transport";
import type { Appender, CommittedAppend } from "./appender.ts";
import { PalfError } from "./palf-error.ts";
import type { Requester } from "./requester.ts";
import { sleep } from "./retry-policy.ts";

/** A committed data entry as a reader gets it (reads, tails, locate). */
export interface ReadEntry {
  readonly lsn: number;
  readonly csn: number;
  readonly payload: Uint8Array;
}

export interface AppendOptions {
  /** A CSN from GTS: the entry's csn will be at least this. */
  readonly refCsn?: number;
}

export interface ReadOptions {
  /** At most this many entries per request (the node may return fewer). */
  readonly maxEntries?: number;
  /** At most about this many payload bytes per request (at least one entry is returned). */
  readonly maxBytes?: number;
  readonly signal?: AbortSignal;
  /**
   * Ask this node (e.g. the leader a watermark batch came from) instead of the group's cached leader. Any
   * member answers reads from its own committed prefix; a lagging one just returns less.
   */
  readonly node?: string;
}

/** One page of committed entries. */
export interface ReadPage {
  readonly entries: readonly ReadEntry[];
  /** The group's committed end (LSN) when the node answered. */
  readonly committedEnd: number;
  /** The LSN to read from next. */
  readonly next: number;
  /** The page ends early, below the limits asked for, because one reply frame holds no more. */
  readonly frameLimited?: true;
}

export interface TailOptions extends ReadOptions {
  /** How long to wait before asking again once caught up (ms). Default 100. */
  readonly pollMs?: number;
}

/** What a group handle needs from its client. */
export interface GroupContext {
  readonly appender: Appender;
  readonly requester: Requester;
  readonly operationTimeoutMs: number;
}

/**
 * One PALF group as seen by a client: append (batched, retried, resolved once committed) and reads of
 * committed entries (a page, every entry up to the committed end, or a tail that keeps following). A
 * handle is cheap and holds no state of its own; make one whenever needed.
 */
export class Group {
  constructor(
    readonly id: number,
    private readonly c: GroupContext,
  ) {
    if (!isGroupId(id))
      throw new PalfError("BAD_REQUEST", `group id ${id} is not a uint32 (0 to ${MAX_GROUP_ID})`);
  }

  /** Appends one entry; resolves with its LSN and CSN once it is committed. */
  append(payload: Uint8Array | string, o: AppendOptions = {}): Promise<CommittedAppend> {
    const bytes = typeof payload === "string" ? new TextEncoder().encode(payload) : payload;
    return this.c.appender.enqueue(this.id, bytes, o.refCsn);
  }

  /** Reads one page of committed entries from `fromLsn`. */
  async read(fromLsn: number, o: ReadOptions = {}): Promise<ReadPage> {
    checkNat("fromLsn", fromLsn, this.id);
    const request = {
      op: "read" as const,
      group: this.id,
      fromLsn,
      ...(o.maxEntries === undefined ? {} : { maxEntries: o.maxEntries }),
      ...(o.maxBytes === undefined ? {} : { maxBytes: o.maxBytes }),
    };
    const call = { timeoutMs: this.c.operationTimeoutMs, signal: o.signal, what: `read of group ${this.id}` };
    const r =
      o.node === undefined
        ? await this.c.requester.toGroup(this.id, request, call)
        : await this.c.requester.toNode(o.node, request, call);
    if (r.op !== "read") throw new PalfError("INTERNAL", `read of group ${this.id}: answered ${r.op}`);
    const page = { entries: r.entries, committedEnd: r.committedEnd, next: r.next };
    return r.frameLimited ? { ...page, frameLimited: true } : page;
  }

  /** Every committed entry from `fromLsn` up to the committed end (as of the last page), page by page. */
  async *entries(fromLsn = 0, o: ReadOptions = {}): AsyncGenerator<ReadEntry, void, undefined> {
    let from = fromLsn;
    for (;;) {
      const page = await this.read(from, o);
      yield* page.entries;
      // A node that makes no progress below its committed end would otherwise spin here forever.
      if (page.next <= from) return;
      from = page.next;
      if (from >= page.committedEnd) return;
    }
  }

  /**
   * Follows the group from `fromLsn`: yields committed entries as they come, polling every pollMs once
   * caught up, until the signal aborts (then it just ends) or a read fails for good (then it throws).
   */
  async *tail(fromLsn = 0, o: TailOptions = {}): AsyncGenerator<ReadEntry, void, undefined> {
    const pollMs = o.pollMs ?? 100;
    let from = fromLsn;
    for (;;) {
      if (o.signal?.aborted) return;
      let page: ReadPage;
      try {
        page = await this.read(from, o);
      } catch (e) {
        if (e instanceof PalfError && e.code === "ABORTED") return;
        throw e;
      }
      yield* page.entries;
      if (page.next > from) from = page.next;
      if (page.entries.length === 0 || from >= page.committedEnd) {
        try {
          await sleep(this.c.requester.runtime, pollMs, o.signal);
        } catch {
          return;
        }
      }
    }
  }

  /** The first committed entry with csn >= `csn`, or null when there is none (yet). */
  async locate(csn: number, o: { readonly signal?: AbortSignal } = {}): Promise<ReadEntry | null> {
    checkNat("csn", csn, this.id);
    const r = await this.c.requester.toGroup(
      this.id,
      { op: "locate", group: this.id, csn },
      { timeoutMs: this.c.operationTimeoutMs, signal: o.signal, what: `locate in group ${this.id}` },
    );
    if (r.op !== "locate") throw new PalfError("INTERNAL", `locate in group ${this.id}: answered ${r.op}`);
    return r.entry;
  }
}

function checkNat(what: string, v: number, group: number): void {
  if (!Number.isSafeInteger(v) || v < 0)
    throw new PalfError("BAD_REQUEST", `${what} ${v} is not a natural number below 2^53`, { group });
}
