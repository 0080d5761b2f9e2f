/**
 * The Wing & Gong / Lowe linearizability search as Porcupine does it (github.com/anishathalye/porcupine):
 * call and return events sorted by time in a doubly linked list; depth-first, it takes the first pending
 * call whose op the model accepts in the current state, lifts that op out of the list and starts over;
 * reaching a return whose op is not linearized yet means the last choice was wrong, so it backtracks. A
 * cache of (set of linearized ops, model state) prunes states already explored, and a step budget bounds
 * the search (result "unknown" instead of running forever).
 */

/** A sequential specification. `step` returns the next state, or undefined if the output is impossible. */
export interface Model<S, I, O> {
  init(): S;
  step(state: S, input: I, output: O): S | undefined;
  /** Equal states must hash equal; it only has to be cheap. */
  hash(state: S): number;
  equal(a: S, b: S): boolean;
  /**
   * Optional promise: an op whose step returns the very state object it got (a stutter: a read, a retry
   * recognised as a duplicate) also stutters in every later state where it is legal. Then taking such an
   * op at once is never worse than postponing it, so the search tries no alternative to it; that turns
   * read-heavy histories from exponential to near-linear. Unsound for a model that does not keep it.
   */
  readonly stutterIsStable?: boolean;
}

export interface TimedOp<I, O> {
  /** The caller's name for the op, used in results. */
  readonly id: number;
  readonly call: number;
  /** Infinity: the op may take effect at any time after its call, or never (no answer, or unknown). */
  readonly ret: number;
  readonly input: I;
  readonly output: O;
}

export type SearchResult<S> =
  | { readonly result: "ok" | "unknown"; readonly steps: number }
  | {
      readonly result: "violation";
      readonly steps: number;
      /** The longest linearization found (op ids in order), */
      readonly prefix: readonly number[];
      /** the op whose return came before it could take effect after that prefix, */
      readonly blocked: number;
      /** and the model state after the prefix. */
      readonly state: S;
    };

export function searchLinearization<S, I, O>(
  model: Model<S, I, O>,
  ops: readonly TimedOp<I, O>[],
  stepBudget: number,
): SearchResult<S> {
  const list = new EventList(ops);
  const linearized = new LinearizedSet(ops.length);
  const cache = new Map<number, { bits: Uint32Array; state: S }[]>();
  const seen = (state: S): boolean => {
    const key = (linearized.hash ^ Math.imul(model.hash(state), 0x9e3779b1)) >>> 0;
    const bucket = cache.get(key);
    if (bucket?.some((c) => linearized.equals(c.bits) && model.equal(c.state, state))) return true;
    if (bucket === undefined) cache.set(key, [{ bits: linearized.copy(), state }]);
    else bucket.push({ bits: linearized.copy(), state });
    return false;
  };
  const stack: { op: number; before: S; dominant: boolean }[] = [];
  let best: Extract<SearchResult<S>, { result: "violation" }> | undefined;
  let state = model.init();
  let event = list.first();
  let steps = 0;
  // Undoes choices until one with alternatives left to try; false when there is none.
  const backtrack = (): boolean => {
    for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
      state = top.before;
      linearized.flip(top.op);
      list.unlift(top.op);
      if (!top.dominant) {
        event = list.next(list.callOf(top.op));
        return true;
      }
    }
    return false;
  };
  for (;;) {
    if (++steps > stepBudget) return { result: "unknown", steps };
    // Only returns at infinity are left (they sort last): every op that returned is linearized.
    if (event < 0 || (list.isReturn(event) && ops[list.opOf(event)]!.ret === Number.POSITIVE_INFINITY))
      return { result: "ok", steps };
    const i = list.opOf(event);
    if (!list.isReturn(event)) {
      const op = ops[i]!;
      const after = model.step(state, op.input, op.output);
      if (after === undefined) {
        event = list.next(event);
        continue;
      }
      const dominant = model.stutterIsStable === true && after === state;
      linearized.flip(i);
      if (!seen(after)) {
        stack.push({ op: i, before: state, dominant });
        state = after;
        list.lift(i);
        event = list.first();
        continue;
      }
      linearized.flip(i);
      // Seen means explored and failed; for a dominant op that condemns every other choice here too.
      if (!dominant) {
        event = list.next(event);
        continue;
      }
    } else if (best === undefined || stack.length > best.prefix.length) {
      // A return of an op not yet linearized: nothing pending fits here. Remember the deepest such point.
      best = {
        result: "violation",
        steps,
        prefix: stack.map((s) => ops[s.op]!.id),
        blocked: ops[i]!.id,
        state,
      };
    }
    if (!backtrack())
      return { ...(best ?? { result: "violation", prefix: [], blocked: ops[i]!.id, state }), steps };
  }
}

/** Events 2i (call of op i) and 2i+1 (its return) in a doubly linked list sorted by time, with a head. */
class EventList {
  private readonly nextOf: Int32Array;
  private readonly prevOf: Int32Array;
  private readonly head: number;

  constructor(ops: readonly TimedOp<unknown, unknown>[]) {
    const n = ops.length * 2;
    const time = (e: number) => (e & 1 ? ops[e >> 1]!.ret : ops[e >> 1]!.call);
    // At equal times calls come first: ops that touch are treated as concurrent (simulated ms are coarse).
    const order = Array.from({ length: n }, (_, e) => e).sort((a, b) => {
      const ta = time(a);
      const tb = time(b);
      if (ta !== tb) return ta < tb ? -1 : 1;
      return (a & 1) - (b & 1) || a - b;
    });
    this.head = n;
    this.nextOf = new Int32Array(n + 1).fill(-1);
    this.prevOf = new Int32Array(n + 1).fill(-1);
    let previous = this.head;
    for (const e of order) {
      this.nextOf[previous] = e;
      this.prevOf[e] = previous;
      previous = e;
    }
  }

  first(): number {
    return this.nextOf[this.head]!;
  }
  next(event: number): number {
    return this.nextOf[event]!;
  }
  isReturn(event: number): boolean {
    return (event & 1) === 1;
  }
  opOf(event: number): number {
    return event >> 1;
  }
  callOf(op: number): number {
    return op * 2;
  }

  /** Takes op's call and return out of the list; `unlift` in reverse order puts them back (dancing links). */
  lift(op: number): void {
    this.unlink(op * 2);
    this.unlink(op * 2 + 1);
  }
  unlift(op: number): void {
    this.relink(op * 2 + 1);
    this.relink(op * 2);
  }

  private unlink(e: number): void {
    const p = this.prevOf[e]!;
    const n = this.nextOf[e]!;
    this.nextOf[p] = n;
    if (n >= 0) this.prevOf[n] = p;
  }
  private relink(e: number): void {
    const p = this.prevOf[e]!;
    const n = this.nextOf[e]!;
    this.nextOf[p] = e;
    if (n >= 0) this.prevOf[n] = e;
  }
}

/** Which ops are linearized, with a Zobrist hash (XOR of a fixed random word per op) kept up to date. */
class LinearizedSet {
  private readonly words: Uint32Array;
  hash = 0;

  constructor(size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
  }

  flip(i: number): void {
    this.words[i >>> 5]! ^= 1 << (i & 31);
    this.hash = (this.hash ^ mix32(i + 1)) >>> 0;
  }
  copy(): Uint32Array {
    return this.words.slice();
  }
  equals(other: Uint32Array): boolean {
    for (let k = 0; k < this.words.length; k++) if (this.words[k] !== other[k]) return false;
    return true;
  }
}

/** MurmurHash3's finaliser: a cheap, well-spread 32-bit mix. */
export function mix32(x: number): number {
  let h = x | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
