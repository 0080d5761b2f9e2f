// Shared by the guard tests: each turns one of core's UnsafeSwitches on (a safety rule off) and shows the
// checkers catch it within a bounded number of seeds, while the same seeds pass with the switch off.
import type { GroupId, Message, Replica, ReplicaEvent, ReplicaId, UnsafeSwitches } from "@palf/core";
import { expect } from "vitest";
import { type ChaosOptions, runChaos } from "../chaos.ts";
import { type SimOptions, Simulation } from "../simulation.ts";

export type Unsafe = Partial<UnsafeSwitches>;

/** Generous per-test timeout: the machine is shared; no test asserts on wall-clock time. */
export const GUARD_TIMEOUT = 120_000;

const G = 1;

/** Seeds `from..to`, both included. */
export const range = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

/**
 * Chaos guard: searches seeds `from..to` with `unsafe` on for the first run whose violations match
 * `expected`, then replays every seed from `from` to that one with the switch off: all must be clean.
 * Returns the catching seed (tests record the one seen when they were written in a comment).
 */
export function chaosGuard(
  unsafe: Unsafe,
  opts: Omit<ChaosOptions, "seed" | "unsafe">,
  from: number,
  to: number,
  expected: RegExp,
): number {
  let caught: { seed: number; violations: string[] } | undefined;
  for (let seed = from; seed <= to && !caught; seed++) {
    const r = runChaos({ ...opts, seed, unsafe });
    if (r.violations.some((v) => expected.test(v))) caught = { seed, violations: r.violations };
  }
  expect(caught, `no seed in ${from}..${to} caught ${JSON.stringify(unsafe)}`).toBeDefined();
  if (process.env.GUARD_DEBUG)
    console.info("CAUGHT", JSON.stringify(unsafe), caught!.seed, caught!.violations.slice(0, 3));
  for (let seed = from; seed <= caught!.seed; seed++) {
    const r = runChaos({ ...opts, seed });
    expect(r.violations, `seed ${seed} with every rule on`).toEqual([]);
  }
  return caught!.seed;
}

/**
 * Scripted guard: runs `scenario` for each seed with the switch on until one reports a violation matching
 * `expected`, then the same seeds with the switch off, which must report nothing.
 */
export function scriptGuard(
  unsafe: Unsafe,
  seeds: readonly number[],
  expected: RegExp,
  scenario: (seed: number, unsafe: Unsafe | undefined) => string[],
): number {
  let caught: number | undefined;
  for (const seed of seeds) {
    const v = scenario(seed, unsafe);
    if (process.env.GUARD_DEBUG) console.info("SCRIPT", JSON.stringify(unsafe), seed, v.slice(0, 3));
    if (v.some((x) => expected.test(x))) {
      caught = seed;
      break;
    }
  }
  expect(caught, `no seed of ${seeds.join(",")} caught ${JSON.stringify(unsafe)}`).toBeDefined();
  for (const seed of seeds.slice(0, seeds.indexOf(caught!) + 1)) {
    expect(scenario(seed, undefined), `seed ${seed} with every rule on`).toEqual([]);
  }
  return caught!;
}

/** A scripted run on a Simulation: moves virtual time forward in steps and waits for conditions. */
export class Script {
  readonly sim: Simulation;
  t = 0;
  /** Sees every replica event as it happens (a scenario can act at an exact point of the protocol). */
  onEvent: ((node: ReplicaId, event: ReplicaEvent) => void) | undefined;

  constructor(opts: SimOptions) {
    this.sim = new Simulation({
      ...opts,
      trace: (now, node, event) => {
        opts.trace?.(now, node, event);
        this.onEvent?.(node, event);
      },
    });
  }

  run(ms: number): void {
    this.t += ms;
    this.sim.run(this.t);
  }

  /** Runs in `stepMs` steps until `done()` or `maxMs` passed; returns whether it happened. */
  until(done: () => boolean, maxMs = 20_000, stepMs = 1): boolean {
    const end = this.t + maxMs;
    while (!done()) {
      if (this.t >= end) return false;
      this.run(stepMs);
    }
    return true;
  }

  replica(id: ReplicaId, group: GroupId = G): Replica | undefined {
    return this.sim.replica(id, group);
  }

  /** Waits for a leader of `group` (role leader, lease valid); fails the test if none comes. */
  leader(group: GroupId = G, among?: readonly ReplicaId[], maxMs = 30_000): Replica {
    const ok = this.until(() => {
      const l = this.sim.leaderOf(group);
      return l !== undefined && (!among || among.includes(l.self));
    }, maxMs);
    expect(ok, `seed ${this.sim.opts.seed}: no leader of group ${group} within ${maxMs} ms`).toBe(true);
    return this.sim.leaderOf(group)!;
  }

  ids(): ReplicaId[] {
    return [...this.sim.nodes.keys()];
  }

  /** Appends `n` entries at `node` (refused ones are skipped); returns how many were accepted. */
  append(node: ReplicaId, n: number, size = 200, group: GroupId = G): number {
    let ok = 0;
    for (let i = 0; i < n; i++) if (this.sim.append(group, node, size)) ok++;
    return ok;
  }

  /** Drops messages for which `drop` returns true (replaces any earlier rule; undefined clears it). */
  drop(drop: ((m: Message) => boolean) | undefined): void {
    this.sim.faults.intercept = drop ? (m) => (drop(m) ? "drop" : undefined) : undefined;
  }

  /**
   * Heals everything, restarts every node and lets the cluster settle, then runs the end-of-run checks
   * (log matching, one result per append). Returns every violation the checkers saw during the run.
   */
  finish(settleMs = 15_000): string[] {
    const sim = this.sim;
    sim.faults.intercept = undefined;
    sim.timerLagMs.clear();
    sim.syncLagMs.clear();
    sim.heal();
    for (const id of this.ids()) sim.restart(id);
    this.run(settleMs);
    sim.checkLogs();
    sim.checker.finish(true);
    return sim.checker.violations;
  }
}

/** Simulation options for a scripted guard: one group, with the switch on when `unsafe` is given. */
export function scriptOptions(
  seed: number,
  unsafe: Unsafe | undefined,
  more: Partial<SimOptions> = {},
): SimOptions {
  return { seed, groups: 1, replicas: 3, nodes: 3, ...more, ...(unsafe ? { unsafe } : {}) };
}

/** True for a push that carries at least one group entry holding a config or StartWorking entry. */
export function carriesConfig(m: Message): boolean {
  return (m.type === "push" || m.type === "fetchReply") && m.entries.some((e) => (e.flags & 1) !== 0);
}
