/**
 * One virtual clock and one seeded event queue for the whole-node simulator. Everything asynchronous in the
 * simulated world (timers, setImmediate, disk completions, network deliveries) is an event here; real I/O
 * never happens. After each event the scheduler waits for one real `setImmediate`, which runs only once the
 * microtask queue is empty: every promise continuation the event started (WAL flush chains, RPC handlers)
 * has run before the next event, and always in the same order. Same seed, same run.
 */
import { createHash } from "node:crypto";
import type { Prng } from "@palf/core";
import type { Runtime, TimerHandle } from "@palf/transport";
import { EventQueue } from "../event-queue.ts";

/** One life of a simulated process: its events are held while it is paused and dropped once it is dead. */
export class Proc {
  dead = false;
  /** Global time until which it is stopped (SIGSTOP); its events wait, its clock keeps running. */
  pausedUntil = 0;
  constructor(readonly name: string) {}
}

interface Task {
  readonly fn: () => void;
  readonly proc: Proc | undefined;
}

const barrier = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** The run's trace digest: event times and, at the end, the client history (two runs of a seed must agree). */
export class TraceHash {
  private h = 0x811c9dc5;
  private readonly hash = createHash("sha256");
  /** FNV-1a step over one 32-bit word (cheap enough for every event). */
  add(n: number): void {
    this.h = Math.imul(this.h ^ (n | 0), 0x01000193) >>> 0;
  }
  addString(s: string): void {
    this.hash.update(s);
  }
  get value(): string {
    return `${this.h.toString(16).padStart(8, "0")}-${this.hash.copy().digest("hex").slice(0, 16)}`;
  }
}

export class SimScheduler {
  /** Global ("true") time in ms. Nodes see it through their own clocks. */
  now = 0;
  events = 0;
  readonly trace = new TraceHash();
  /** Runs after every event, once its microtasks are done (the simulator's step checks). */
  afterEvent: (() => void) | undefined;
  private readonly queue = new EventQueue<Task>();
  private sameTime = 0;

  constructor(private readonly maxEvents = 5_000_000) {}

  /** Runs `fn` at global time `t` (not before now), unless `proc` is dead by then; held while it is paused. */
  at(t: number, fn: () => void, proc?: Proc): void {
    this.queue.push(Math.max(t, this.now), { fn, proc });
  }

  /** Processes events up to global time `until`. */
  async run(until: number): Promise<void> {
    while (this.queue.peekTime() <= until) {
      const { at, item } = this.queue.pop()!;
      const p = item.proc;
      if (p?.dead) continue;
      if (p !== undefined && p.pausedUntil > at) {
        // Held, in order: they run when the process resumes.
        this.queue.push(p.pausedUntil, item);
        continue;
      }
      if (at > this.now) {
        this.now = at;
        this.sameTime = 0;
      } else if (++this.sameTime > 200_000) {
        throw new Error(`livelock: 200000 events at t=${this.now} without time passing`);
      }
      if (++this.events > this.maxEvents) throw new Error(`event storm: more than ${this.maxEvents} events`);
      this.trace.add(Math.round(this.now * 1000));
      item.fn();
      await barrier();
      this.afterEvent?.();
    }
    if (until > this.now) this.now = until;
  }
}

/**
 * A machine's monotonic clock: local = global * rate + offset (never going back). A forward jump raises the
 * offset; timers are kept in local time, so a jump makes due timers fire at once, as libuv's would.
 */
export class SimClock {
  private last = Number.NEGATIVE_INFINITY;
  constructor(
    readonly rate: number,
    private offset: number,
  ) {}

  local(t: number): number {
    const v = this.offset + t * this.rate;
    if (v > this.last) this.last = v;
    return this.last;
  }

  /** Global time at which this clock reads `local`. */
  globalOf(local: number): number {
    return (local - this.offset) / this.rate;
  }

  /** A timer for `local` fired: make sure the clock reads at least that (float rounding). */
  reach(local: number): void {
    if (local > this.last) this.last = local;
  }

  jump(ms: number): void {
    this.offset += ms;
  }
}

interface SimTimer {
  readonly fn: () => void;
  deadline: number;
  readonly interval: number | undefined;
  gen: number;
  live: boolean;
}

/** Where simulated wall clocks start (2026-01-01): a machine's wall time is this plus its monotonic clock. */
const SIM_EPOCH_MS = Date.UTC(2026, 0, 1);

/**
 * The Runtime of one process life (a node's or a client's): virtual clock and timers, every callback an event
 * of `proc`, randomness from the seeded `rng`.
 */
export class SimRuntime implements Runtime {
  private readonly timers = new Set<SimTimer>();

  constructor(
    private readonly sched: SimScheduler,
    private readonly clock: SimClock,
    readonly proc: Proc,
    private readonly rng: Prng,
  ) {}

  now(): number {
    return this.clock.local(this.sched.now);
  }

  wallNow(): number {
    return SIM_EPOCH_MS + Math.floor(this.now());
  }

  random(): number {
    // Two 32-bit draws: a session id needs 48 random bits.
    const hi = Math.floor(this.rng.next() * 2 ** 32);
    const lo = Math.floor(this.rng.next() * 2 ** 16);
    return (hi * 2 ** 16 + lo) / 2 ** 48;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, undefined);
  }

  setInterval(fn: () => void, ms: number): TimerHandle {
    return this.add(fn, ms, Math.max(1, ms));
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle === undefined) return;
    const t = handle as SimTimer;
    t.live = false;
    this.timers.delete(t);
  }

  clearInterval(handle: TimerHandle | undefined): void {
    this.clearTimeout(handle);
  }

  setImmediate(fn: () => void): void {
    this.sched.at(this.sched.now, fn, this.proc);
  }

  /** The clock jumped: every timer fires at the global time its local deadline now maps to. */
  clockChanged(): void {
    for (const t of this.timers) this.arm(t);
  }

  private add(fn: () => void, ms: number, interval: number | undefined): SimTimer {
    const delay = Number.isFinite(ms) && ms > 0 ? ms : 0;
    const t: SimTimer = { fn, deadline: this.now() + delay, interval, gen: 0, live: true };
    this.timers.add(t);
    this.arm(t);
    return t;
  }

  private arm(t: SimTimer): void {
    const gen = ++t.gen;
    this.sched.at(this.clock.globalOf(t.deadline), () => this.fire(t, gen), this.proc);
  }

  private fire(t: SimTimer, gen: number): void {
    if (!t.live || t.gen !== gen) return;
    this.clock.reach(t.deadline);
    if (t.interval !== undefined) {
      // As Node does: the next run is an interval after this one ran (a paused process does not catch up).
      t.deadline = this.now() + t.interval;
      this.arm(t);
    } else {
      t.live = false;
      this.timers.delete(t);
    }
    t.fn();
  }
}
