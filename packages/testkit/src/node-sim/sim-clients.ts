/**
 * The simulator's clients, each a real @palf/client PalfClient on a simulated process (sim-process.ts):
 * appenders append one entry at a time through the SDK (batching, routing, leadership events, idempotent
 * retries with one session and seq, backoff, all on the simulated clock), readers read a page from the
 * group's leader or any member, tailers follow the log page by page. Every operation goes into the history
 * with its call and return times; an append the SDK retried is still one operation. What the serving node
 * noted (its group's incarnation, a read under a valid lease) comes from the transport's observer.
 */
import { PalfError } from "@palf/client";
import type { Prng } from "@palf/core";
import { decodeRequest, decodeResponse } from "@palf/transport";
import type { AppendOutcome, OpInput, ReadOutcome } from "../history/index.ts";
import type { SimClient, SimClientOptions } from "./sim-process.ts";
import type { SimScheduler } from "./sim-scheduler.ts";

/** What the node that served a read noted at that instant (see NodeSim's serve hook). */
export interface ReadServe {
  /** Served by a leader whose lease was valid then (and lease checks apply): a linearizable read. */
  readonly leaseRead: boolean;
  /** Incarnation of the group at the serving node (undefined: it had no replica of the group). */
  readonly inc?: number | undefined;
}

/**
 * Clients of one incarnation of a group while it is deleted and recreated: `draining` issues nothing new but
 * lets operations under way finish; `closed` also closes the SDK client (what it still retries ends as
 * indeterminate).
 */
export type ClientPhase = "open" | "draining" | "closed";

/** One client operation as recorded; it goes into a HistoryRecorder at the end of the run. */
export interface ClientOp {
  readonly client: string;
  readonly group: number;
  readonly call: number;
  ret: number | undefined;
  input: OpInput;
  output: AppendOutcome | ReadOutcome | undefined;
  /** Requests the SDK sent for it. */
  attempts: number;
  /** The group's incarnation whose history it belongs to: its client's, or the one that served its answer. */
  inc: number;
}

export interface ClientEnv {
  readonly sched: SimScheduler;
  readonly rng: Prng;
  readonly seed: number;
  /** Members of a group (its clients' seed list). */
  members(group: number): readonly string[];
  /** A real SDK client on a process of its own (simClient). */
  client(id: string, o: SimClientOptions): SimClient;
  readonly ops: ClientOp[];
  /** Client-visible protocol breaches (a malformed answer, BAD_REQUEST for a valid request). */
  violation(what: string): void;
  /** False once the run stops issuing new operations (ops under way still finish). */
  issuing(): boolean;
  /** The phase of the clients of incarnation `inc` of `group` (default: open). */
  phase?(group: number, inc: number): ClientPhase;
}

abstract class SdkClient {
  protected readonly sdk: SimClient;
  /** What the node behind the latest answer noted (one operation at a time, so its final answer's). */
  protected lastTag: ReadServe | undefined;
  /** The operation under way (one at a time). */
  protected current: ClientOp | undefined;
  private closing = false;

  constructor(
    protected readonly env: ClientEnv,
    readonly id: string,
    readonly group: number,
    private readonly thinkMs: number,
    /** The group's incarnation this client works on (a recreated group gets new clients). */
    readonly inc: number,
    options: SimClientOptions,
  ) {
    this.sdk = env.client(id, { nodes: env.members(group), ...options });
    this.sdk.transport.observer = {
      request: (_to, payload) => {
        // The group is being deleted: the SDK gives up on what it still retries (indeterminate).
        if (this.phase() === "closed") this.close();
        if (this.current === undefined) return;
        this.current.attempts++;
        this.onRequest(this.current, payload);
      },
      answer: (to, _payload, reply, tag) => {
        const res = decodeResponse(reply);
        if (!res.ok && res.error.code === "INTERNAL" && res.error.message?.startsWith("bad response"))
          this.env.violation(`client ${this.id}: undecodable answer from ${to}: ${res.error.message}`);
        this.lastTag = tag as ReadServe | undefined;
      },
    };
  }

  protected phase(): ClientPhase {
    return this.env.phase?.(this.group, this.inc) ?? "open";
  }

  start(at: number): void {
    this.env.sched.at(at, () => this.next());
  }

  protected abstract issue(): void;
  /** An attempt of `op` leaves. */
  protected onRequest(_op: ClientOp, _payload: Uint8Array): void {}

  protected next(): void {
    if (!this.env.issuing() || this.phase() !== "open") return this.close();
    this.lastTag = undefined;
    this.current = undefined;
    this.issue();
  }

  protected think(): void {
    const ms = this.env.rng.next() * this.thinkMs * 2;
    this.env.sched.at(this.env.sched.now + ms, () => this.next());
  }

  /** The incarnation an answer came from (the client's own when the node had none). */
  protected servedInc(): number {
    return this.lastTag?.inc ?? this.inc;
  }

  private close(): void {
    if (this.closing) return;
    this.closing = true;
    void this.sdk.close();
  }
}

/** Appends one entry at a time through the SDK, which retries it (same session and seq) until it has an answer. */
export class Appender extends SdkClient {
  private count = 0;

  constructor(
    env: ClientEnv,
    id: string,
    group: number,
    thinkMs: number,
    session: number,
    attemptTimeoutMs: number,
    inc = 0,
  ) {
    super(env, id, group, thinkMs, inc, {
      sessionId: session,
      requestTimeoutMs: attemptTimeoutMs,
      // Give up only when the group goes away (close) or long after healing: as a user waiting it out.
      appendTimeoutMs: 120_000,
      maxAttempts: 100_000,
      maxInFlightPerGroup: 1,
      // Retries as often as the simulator's own clients did (10 to 250 ms): more attempts race the faults.
      backoff: { initialMs: 10, maxMs: 250 },
    });
  }

  protected issue(): void {
    const n = ++this.count;
    const rng = this.env.rng;
    const tag = Buffer.from(`s${this.env.seed}/${this.id}/${n}/`);
    const payload = Buffer.alloc(tag.length + rng.int(0, 200));
    tag.copy(payload);
    for (let i = tag.length; i < payload.length; i++) payload[i] = rng.int(0, 256);
    const op: ClientOp = {
      client: this.id,
      group: this.group,
      call: this.env.sched.now,
      ret: undefined,
      // The seq is the SDK's: taken from its first request (onRequest).
      input: { type: "append", payload, session: { id: this.sdk.client.sessionId, seq: 0 } },
      output: undefined,
      attempts: 0,
      inc: this.inc,
    };
    this.env.ops.push(op);
    this.current = op;
    this.sdk.client
      .group(this.group)
      .append(payload)
      .then(
        (r) => this.finish(op, { status: "committed", lsn: r.lsn, csn: r.csn }, this.servedInc()),
        (e: unknown) => {
          const code = e instanceof PalfError ? e.code : undefined;
          if (code === undefined || code === "BAD_REQUEST" || code === "TOO_LARGE")
            this.env.violation(`client ${this.id}: a valid append was refused: ${String(e)}`);
          // FAILED is the node's word that it was never committed; anything else may or may not have been.
          if (code === "FAILED") this.finish(op, { status: "failed" }, this.servedInc());
          else this.finish(op, { status: "indeterminate" }, this.inc);
        },
      );
  }

  protected override onRequest(op: ClientOp, payload: Uint8Array): void {
    if (op.input.type !== "append") return;
    const req = decodeRequest(payload);
    if ("bad" in req || req.op !== "append") return;
    const item = req.items[0];
    if (req.items.length !== 1 || item?.session === undefined || !sameBytes(item.payload, op.input.payload)) {
      this.env.violation(`client ${this.id}: the SDK sent an append that is not the one under way`);
      return;
    }
    op.input = { ...op.input, session: item.session };
  }

  private finish(op: ClientOp, out: AppendOutcome, inc: number): void {
    this.current = undefined;
    op.inc = inc;
    op.ret = this.env.sched.now;
    op.output = out;
    this.think();
  }
}

/** Reads a page from the group's leader or any member; `tail` follows the log from where the last read stopped. */
export class Reader extends SdkClient {
  private from = 0;
  private known = 0;

  constructor(
    env: ClientEnv,
    id: string,
    group: number,
    thinkMs: number,
    private readonly tail: boolean,
    inc = 0,
  ) {
    super(env, id, group, thinkMs, inc, {
      requestTimeoutMs: 1000,
      operationTimeoutMs: 1000,
      backoff: { initialMs: 10, maxMs: 250 },
    });
  }

  protected issue(): void {
    const rng = this.env.rng;
    const fromLsn = this.tail ? this.from : rng.int(0, this.known + 1);
    // Half the reads go where the SDK believes the leader is, half to any member.
    const node = rng.chance(0.5) ? undefined : rng.pick(this.env.members(this.group));
    const maxEntries = rng.int(1, 40);
    const op: ClientOp = {
      client: this.id,
      group: this.group,
      call: this.env.sched.now,
      ret: undefined,
      input: { type: "read", fromLsn, linearizable: false },
      output: undefined,
      attempts: 0,
      inc: this.inc,
    };
    this.env.ops.push(op);
    this.current = op;
    this.sdk.client
      .group(this.group)
      .read(fromLsn, { maxEntries, ...(node === undefined ? {} : { node }) })
      .then(
        (page) => {
          op.ret = this.env.sched.now;
          op.output = {
            status: "ok",
            entries: page.entries,
            committedEnd: page.committedEnd,
            next: page.next,
          };
          op.inc = this.servedInc();
          op.input = { ...op.input, linearizable: this.lastTag?.leaseRead === true } as OpInput;
          // Positions in another incarnation's log (a node not yet recreated answered) say nothing about ours.
          if (op.inc === this.inc) {
            this.known = Math.max(this.known, page.committedEnd);
            if (this.tail) this.from = page.next;
          }
          this.think();
        },
        (e: unknown) => {
          op.ret = this.env.sched.now;
          op.output = { status: "error" };
          // A tail that fell below the recycled base goes on from the base the node named.
          const m = e instanceof PalfError ? /starts at (\d+)$/.exec(e.message) : null;
          if (this.tail && m?.[1] !== undefined && this.servedInc() === this.inc)
            this.from = Math.max(this.from, Number(m[1]));
          this.think();
        },
      );
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(b);
}
