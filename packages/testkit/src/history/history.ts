/**
 * What simulated clients saw: one record per client operation (append or read) with its call time, its
 * return time (simulated ms; undefined if it never returned) and its outcome. The history checker and the
 * linearizability checker judge a list of these after a run.
 */

/** Who issued an operation (a simulated client; any stable id). */
export type ClientId = string | number;

/** A client session (id, seq): the leader recognises a retried append by it. */
export interface SessionRef {
  readonly id: number;
  readonly seq: number;
}

export interface AppendInput {
  readonly type: "append";
  /**
   * Assumed unique per (group, session): the simulator's clients make every payload unique, and a retry
   * reuses the payload and the session of the attempt it retries. That is how an entry read back is tied
   * to the session that appended it.
   */
  readonly payload: Uint8Array;
  readonly session: SessionRef;
}

export interface ReadInput {
  readonly type: "read";
  readonly fromLsn: number;
  /** A leader read under a valid lease: checked for linearizability. Other reads may lag. */
  readonly linearizable: boolean;
}

export type OpInput = AppendInput | ReadInput;

/** The explicit result of an append as the client got it. */
export type AppendOutcome =
  | { readonly status: "committed"; readonly lsn: number; readonly csn: number }
  /** It will never be committed. */
  | { readonly status: "failed" }
  /** It may or may not have been committed (also: the client gave up waiting). */
  | { readonly status: "indeterminate" };

export interface ReadEntry {
  readonly lsn: number;
  readonly csn: number;
  readonly payload: Uint8Array;
}

export type ReadOutcome =
  | {
      readonly status: "ok";
      /** Committed data entries with fromLsn <= lsn < next, in LSN order, none left out. */
      readonly entries: readonly ReadEntry[];
      /** The serving replica's committed end (exclusive) when it answered. */
      readonly committedEnd: number;
      readonly next: number;
    }
  /** An error answer tells nothing about the log. */
  | { readonly status: "error" };

interface OpTimes {
  readonly client: ClientId;
  readonly group: number;
  /** Simulated ms when the client sent it. */
  readonly call: number;
  /** Simulated ms when the client got the answer; undefined if it never did. */
  readonly ret: number | undefined;
}

export interface AppendOp extends OpTimes {
  readonly input: AppendInput;
  readonly output: AppendOutcome | undefined;
}

export interface ReadOp extends OpTimes {
  readonly input: ReadInput;
  readonly output: ReadOutcome | undefined;
}

/** One client operation; its index in the history is how checkers name it ("op #12"). */
export type Operation = AppendOp | ReadOp;

export type OpKind = OpInput["type"];
export type OutcomeOf<K extends OpKind> = K extends "append" ? AppendOutcome : ReadOutcome;

/** Returned by `begin`, given back to `end`. */
export interface OpHandle<K extends OpKind = OpKind> {
  readonly index: number;
  readonly kind: K;
}

type Recorded =
  | { -readonly [P in keyof AppendOp]: AppendOp[P] }
  | { -readonly [P in keyof ReadOp]: ReadOp[P] };

/**
 * Records a history as the simulator runs: `begin` when a client sends, `end` when it gets the answer.
 * Operations that are never ended stay "never returned" (timeouts, crashed nodes, runs that stop).
 */
export class HistoryRecorder {
  private readonly ops: Recorded[] = [];
  private readonly sessionByPayload = new Map<string, SessionRef>();
  private readonly payloadBySession = new Map<string, string>();

  begin<I extends OpInput>(client: ClientId, group: number, input: I, at: number): OpHandle<I["type"]> {
    if (input.type === "append") this.rememberSession(group, input);
    // Copies, so a caller that reuses its buffers cannot rewrite history.
    const copied: OpInput = input.type === "append" ? { ...input, payload: input.payload.slice() } : input;
    const index = this.ops.length;
    this.ops.push({ client, group, call: at, ret: undefined, input: copied, output: undefined } as Recorded);
    return { index, kind: input.type };
  }

  end<K extends OpKind>(handle: OpHandle<K>, outcome: OutcomeOf<K>, at: number): void {
    const op = this.ops[handle.index];
    if (op === undefined || op.input.type !== handle.kind)
      throw new Error(`no ${handle.kind} op #${handle.index}`);
    if (op.ret !== undefined) throw new Error(`op #${handle.index} ended twice`);
    if (at < op.call) throw new Error(`op #${handle.index} returned at ${at}, before its call at ${op.call}`);
    op.ret = at;
    op.output = copyOutcome(outcome);
  }

  /** Everything recorded so far, in `begin` order (the index is the op's name in reports). */
  get operations(): readonly Operation[] {
    return this.ops;
  }

  /** The session that appended these bytes to this group, if any client did. */
  sessionOf(group: number, payload: Uint8Array): SessionRef | undefined {
    return this.sessionByPayload.get(payloadKey(group, payload));
  }

  private rememberSession(group: number, input: AppendInput): void {
    const key = payloadKey(group, input.payload);
    const sessionKey = `${group}/${sessionText(input.session)}`;
    const known = this.sessionByPayload.get(key);
    const knownPayload = this.payloadBySession.get(sessionKey);
    // The checkers tie entries read back to sessions by their bytes; sharing either way would make that lie.
    if (known !== undefined && (known.id !== input.session.id || known.seq !== input.session.seq))
      throw new Error(
        `group ${group}: sessions ${sessionText(known)} and ${sessionText(input.session)} appended the same bytes`,
      );
    if (knownPayload !== undefined && knownPayload !== key)
      throw new Error(
        `group ${group}: session ${sessionText(input.session)} appended two different payloads`,
      );
    this.sessionByPayload.set(key, input.session);
    this.payloadBySession.set(sessionKey, key);
  }
}

function copyOutcome<K extends OpKind>(o: OutcomeOf<K>): OutcomeOf<K> {
  if (!("entries" in o)) return o;
  return { ...o, entries: o.entries.map((e) => ({ ...e, payload: e.payload.slice() })) } as OutcomeOf<K>;
}

/** A map key for (group, bytes): one char per byte, so equal keys mean equal bytes. */
export function payloadKey(group: number, payload: Uint8Array): string {
  return `${group}:${Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("latin1")}`;
}

export function sessionText(s: SessionRef): string {
  return `${s.id}:${s.seq}`;
}

/** Narrows an op by its input (TypeScript does not narrow on a nested discriminant). */
export function isAppend(op: Operation): op is AppendOp {
  return op.input.type === "append";
}

/** Positions of each group's ops in the history, by ascending group. */
export function indicesByGroup(ops: readonly Operation[]): Map<number, number[]> {
  const byGroup = new Map<number, number[]>();
  ops.forEach((op, i) => {
    const list = byGroup.get(op.group) ?? [];
    list.push(i);
    byGroup.set(op.group, list);
  });
  return new Map([...byGroup].sort((a, b) => a[0] - b[0]));
}
