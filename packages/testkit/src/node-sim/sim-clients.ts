/**
 * Deterministic simulated clients on the real RPC codec (the real @palf/client runs on real timers and
 * randomness). Appenders send one append at a time with a session id and seq, and retry the same session
 * and seq (same bytes) on timeouts, NOT_LEADER and other retryable errors, on the hinted leader or another
 * member, until they get an explicit answer; readers read a range from any node; tailers follow a group's
 * log from node to node. Every operation goes into the history with its call and return times.
 */
import type { Prng } from "@palf/core";
import {
  decodeResponse,
  encodeRpc,
  type RpcRequest,
  type RpcResponse,
  TransportError,
} from "@palf/transport";
import type { AppendOutcome, OpInput, ReadOutcome } from "../history/index.ts";
import type { SimNetwork } from "./sim-network.ts";
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
 * lets operations under way finish; `closed` also gives up on appends at their next retry (indeterminate).
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
  attempts: number;
  /** The group's incarnation whose history it belongs to: its client's, or the one that served its answer. */
  inc: number;
}

export interface ClientEnv {
  readonly sched: SimScheduler;
  readonly net: SimNetwork;
  readonly rng: Prng;
  readonly seed: number;
  /** Members of a group (where to send its requests). */
  members(group: number): readonly string[];
  readonly ops: ClientOp[];
  /** Leader hints per group, shared by its clients. */
  readonly hints: Map<number, string>;
  /** Client-visible protocol breaches (a malformed answer, BAD_REQUEST for a valid request). */
  violation(what: string): void;
  /** False once the run stops issuing new operations (ops under way still finish). */
  issuing(): boolean;
  /** The phase of the clients of incarnation `inc` of `group` (default: open). */
  phase?(group: number, inc: number): ClientPhase;
}

const RETRYABLE = new Set([
  "NOT_LEADER",
  "UNKNOWN_GROUP",
  "BUSY",
  "BACKPRESSURE",
  "HALTED",
  "NOT_WRITABLE",
  "TIMEOUT",
  "STOPPING",
  "INTERNAL",
]);

abstract class SimClient {
  /** Where the group's leader was last seen (shared by the group's clients). */
  protected get hint(): string | undefined {
    return this.env.hints.get(this.group);
  }
  protected set hint(node: string | undefined) {
    if (node === undefined) this.env.hints.delete(this.group);
    else this.env.hints.set(this.group, node);
  }

  constructor(
    protected readonly env: ClientEnv,
    readonly id: string,
    readonly group: number,
    protected readonly thinkMs: number,
    /** The group's incarnation this client works on (a recreated group gets new clients). */
    readonly inc = 0,
  ) {}

  protected phase(): ClientPhase {
    return this.env.phase?.(this.group, this.inc) ?? "open";
  }

  start(at: number): void {
    this.env.sched.at(at, () => this.next());
  }

  protected abstract issue(): void;

  protected next(): void {
    if (!this.env.issuing() || this.phase() !== "open") return;
    this.issue();
  }

  protected later(ms: number, fn: () => void): void {
    this.env.sched.at(this.env.sched.now + ms, fn);
  }

  protected think(): void {
    this.later(this.env.rng.next() * this.thinkMs * 2, () => this.next());
  }

  protected pickNode(avoid?: string): string {
    const members = this.env.members(this.group);
    if (this.hint !== undefined && this.hint !== avoid && members.includes(this.hint)) return this.hint;
    const others = members.filter((m) => m !== avoid);
    return this.env.rng.pick(others.length > 0 ? others : members);
  }

  /** One request; the answer (or the transport's error) comes back through `done`. */
  protected send(
    to: string,
    req: RpcRequest,
    timeoutMs: number,
    done: (res: RpcResponse | TransportError, tag: unknown) => void,
  ): void {
    this.env.net.rpc(this.id, to, encodeRpc(req), timeoutMs).then(
      (a) => {
        const res = decodeResponse(a.reply);
        if (!res.ok && res.error.code === "INTERNAL" && res.error.message?.startsWith("bad response"))
          this.env.violation(`client ${this.id}: undecodable answer from ${to}: ${res.error.message}`);
        done(res, a.tag);
      },
      (e: unknown) =>
        done(e instanceof TransportError ? e : new TransportError("failed", String(e)), undefined),
    );
  }
}

/** Appends with (session, seq), one at a time, retrying until it gets an explicit answer. */
export class Appender extends SimClient {
  private seq = 0;

  constructor(
    env: ClientEnv,
    id: string,
    group: number,
    thinkMs: number,
    private readonly session: number,
    private readonly attemptTimeoutMs: number,
    inc = 0,
  ) {
    super(env, id, group, thinkMs, inc);
  }

  protected issue(): void {
    const seq = ++this.seq;
    const rng = this.env.rng;
    const tag = Buffer.from(`s${this.env.seed}/${this.id}/${seq}/`);
    const payload = Buffer.alloc(tag.length + rng.int(0, 200));
    tag.copy(payload);
    for (let i = tag.length; i < payload.length; i++) payload[i] = rng.int(0, 256);
    const op: ClientOp = {
      client: this.id,
      group: this.group,
      call: this.env.sched.now,
      ret: undefined,
      input: { type: "append", payload, session: { id: this.session, seq } },
      output: undefined,
      attempts: 0,
      inc: this.inc,
    };
    this.env.ops.push(op);
    this.attempt(op, payload, seq, this.pickNode());
  }

  /** `unsure`: an earlier attempt may have been applied (no answer, or TIMEOUT): resend it marked as a retry. */
  private attempt(op: ClientOp, payload: Buffer, seq: number, to: string, unsure = false): void {
    // The group is being deleted: give up (the append may or may not have been applied).
    if (this.phase() === "closed") return this.finish(op, { status: "indeterminate" });
    op.attempts++;
    const req: RpcRequest = {
      op: "append",
      group: this.group,
      items: [{ payload, session: { id: this.session, seq }, ...(unsure ? { retry: true } : {}) }],
    };
    this.send(to, req, this.attemptTimeoutMs, (res, tag) => {
      let maybeApplied = unsure;
      const retry = (next: string, backoff = 10 + this.env.rng.next() * 90) =>
        this.later(backoff, () => this.attempt(op, payload, seq, next, maybeApplied));
      if (res instanceof TransportError) {
        if (this.hint === to) this.hint = undefined;
        maybeApplied = true;
        return retry(this.pickNode(to));
      }
      if (!res.ok) {
        if (res.error.code === "BAD_REQUEST")
          this.env.violation(`client ${this.id}: a valid append was refused: ${res.error.message}`);
        return retry(this.pickNode(to), 50 + this.env.rng.next() * 200);
      }
      if (res.op !== "append" || res.results.length !== 1) {
        this.env.violation(`client ${this.id}: append answered with ${JSON.stringify(res).slice(0, 200)}`);
        return retry(this.pickNode(to));
      }
      const r = res.results[0]!;
      if (!("error" in r)) {
        this.hint = to;
        return this.finish(op, { status: "committed", lsn: r.lsn, csn: r.csn }, tag);
      }
      const code = r.error.code;
      if (code === "TIMEOUT") maybeApplied = true;
      if (code === "FAILED") return this.finish(op, { status: "failed" }, tag);
      if (code === "INDETERMINATE") return this.finish(op, { status: "indeterminate" }, tag);
      if (code === "NOT_LEADER" && r.error.leader !== undefined && r.error.leader !== to) {
        this.hint = r.error.leader;
        return retry(r.error.leader, 1 + this.env.rng.next() * 10);
      }
      if (this.hint === to) this.hint = undefined;
      if (!RETRYABLE.has(code)) this.env.violation(`client ${this.id}: unexpected append error ${code}`);
      retry(this.pickNode(to), code === "NOT_LEADER" ? 50 + this.env.rng.next() * 150 : undefined);
    });
  }

  /** `tag`: the answer's; its incarnation is the one the outcome is about. */
  private finish(op: ClientOp, out: AppendOutcome, tag?: unknown): void {
    op.inc = (tag as ReadServe | undefined)?.inc ?? op.inc;
    op.ret = this.env.sched.now;
    op.output = out;
    this.think();
  }
}

/** Reads a range from some node; `tail` follows the log from where the last read stopped. */
export class Reader extends SimClient {
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
    super(env, id, group, thinkMs, inc);
  }

  protected issue(): void {
    const rng = this.env.rng;
    const fromLsn = this.tail ? this.from : rng.int(0, this.known + 1);
    const to = rng.chance(0.5) ? this.pickNode() : rng.pick(this.env.members(this.group));
    const op: ClientOp = {
      client: this.id,
      group: this.group,
      call: this.env.sched.now,
      ret: undefined,
      input: { type: "read", fromLsn, linearizable: false },
      output: undefined,
      attempts: 1,
      inc: this.inc,
    };
    this.env.ops.push(op);
    const req: RpcRequest = { op: "read", group: this.group, fromLsn, maxEntries: rng.int(1, 40) };
    this.send(to, req, 1000, (res, tag) => {
      op.ret = this.env.sched.now;
      if (res instanceof TransportError || !res.ok || res.op !== "read") {
        op.output = { status: "error" };
        // A tail that fell below the recycled base goes on from the base the node named.
        const m =
          !(res instanceof TransportError) && !res.ok
            ? /starts at (\d+)$/.exec(res.error.message ?? "")
            : null;
        if (this.tail && m !== null && m[1] !== undefined && this.ownIncarnation(tag))
          this.from = Math.max(this.from, Number(m[1]));
      } else {
        op.output = { status: "ok", entries: res.entries, committedEnd: res.committedEnd, next: res.next };
        op.inc = (tag as ReadServe | undefined)?.inc ?? op.inc;
        op.input = {
          ...op.input,
          linearizable: (tag as ReadServe | undefined)?.leaseRead === true,
        } as OpInput;
        // Positions in another incarnation's log (a node not yet recreated answered) say nothing about ours.
        if (this.ownIncarnation(tag)) {
          this.known = Math.max(this.known, res.committedEnd);
          if (this.tail) this.from = res.next;
        }
      }
      this.think();
    });
  }

  private ownIncarnation(tag: unknown): boolean {
    return ((tag as ReadServe | undefined)?.inc ?? this.inc) === this.inc;
  }
}
