import { type AppendOutcome, HistoryRecorder, type Operation } from "./history.ts";

/** Test-only: hand-written histories, one line per op. Not exported from index.ts. */

export const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** An entry as a read returns it: [lsn, csn, payload text]. */
export type EntryRow = readonly [lsn: number, csn: number, payload: string];

export interface AppendOptions {
  readonly group?: number;
  /** Default: a fresh session; give the same one to model a retry. */
  readonly session?: { readonly id: number; readonly seq: number };
}

export interface ReadRow {
  readonly from: number;
  readonly entries: readonly EntryRow[];
  readonly committedEnd: number;
  /** Default: max(from, committedEnd), a read that was not cut short. */
  readonly next?: number;
  /** Default true. */
  readonly linearizable?: boolean;
}

/** Builds a history through the recorder; every append gets a fresh session unless told otherwise. */
export class HistoryScript {
  readonly recorder = new HistoryRecorder();
  private seq = 0;

  /** An append called at `call` that got `outcome` ([lsn, csn] = committed) at `ret`. */
  append(
    client: number,
    payload: string,
    call: number,
    ret: number,
    outcome: "failed" | "indeterminate" | readonly [lsn: number, csn: number],
    o: AppendOptions = {},
  ): this {
    const h = this.beginAppend(client, payload, call, o);
    const out: AppendOutcome =
      typeof outcome === "string"
        ? { status: outcome }
        : { status: "committed", lsn: outcome[0], csn: outcome[1] };
    this.recorder.end(h, out, ret);
    return this;
  }

  /** An append that never got an answer. */
  unanswered(client: number, payload: string, call: number, o: AppendOptions = {}): this {
    this.beginAppend(client, payload, call, o);
    return this;
  }

  private beginAppend(client: number, payload: string, call: number, o: AppendOptions) {
    const session = o.session ?? { id: client, seq: ++this.seq };
    return this.recorder.begin(
      client,
      o.group ?? 1,
      { type: "append", payload: bytes(payload), session },
      call,
    );
  }

  /** A read called at `call` that returned at `ret`. */
  read(client: number, call: number, ret: number, r: ReadRow, group = 1): this {
    const h = this.recorder.begin(
      client,
      group,
      { type: "read", fromLsn: r.from, linearizable: r.linearizable ?? true },
      call,
    );
    const entries = r.entries.map(([lsn, csn, p]) => ({ lsn, csn, payload: bytes(p) }));
    const next = r.next ?? Math.max(r.from, r.committedEnd);
    this.recorder.end(h, { status: "ok", entries, committedEnd: r.committedEnd, next }, ret);
    return this;
  }

  get ops(): readonly Operation[] {
    return this.recorder.operations;
  }
}
