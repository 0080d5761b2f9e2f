import { describe, expect, it } from "vitest";
import { type Completion, type LoadClock, latencyOf, runSchedule } from "./open-loop.ts";

/**
 * A virtual clock for the scheduler: time moves only when every pending promise has settled and the
 * earliest timer fires, so a test fixes exactly when each operation is sent and acknowledged.
 */
class FakeClock implements LoadClock {
  t = 0;
  private timers: Array<{ at: number; fire: () => void }> = [];
  now(): number {
    return this.t;
  }
  sleep(ms: number): Promise<void> {
    return new Promise((r) => this.at(this.t + ms, r));
  }
  at(at: number, fire: () => void): void {
    this.timers.push({ at, fire });
    this.timers.sort((a, b) => a.at - b.at);
  }
  /** Settles microtasks, then fires timers in time order until `done` resolves. */
  async run<T>(done: Promise<T>): Promise<T> {
    let finished = false;
    const result = done.finally(() => {
      finished = true;
    });
    for (;;) {
      for (let i = 0; i < 20; i++) await new Promise<void>((r) => setImmediate(r));
      if (finished) return result;
      const next = this.timers.shift();
      if (!next) throw new Error("the schedule waits for nothing: deadlock");
      this.t = Math.max(this.t, next.at);
      next.fire();
    }
  }
}

describe("open-loop schedule", () => {
  it("charges a stalled operation's successors from their intended send times, not from when they were sent", async () => {
    const clock = new FakeClock();
    const done: Completion[] = [];
    // 100/s = one every 10 ms; one in flight; operation 0 stalls for 50 ms, the others take 1 ms.
    const sent = runSchedule({
      rate: 100,
      inflight: 1,
      count: 5,
      clock,
      send: (i) => new Promise<void>((r) => clock.at(clock.now() + (i === 0 ? 50 : 1), r)),
      onDone: (c) => done.push(c),
    });
    expect(await clock.run(sent)).toBe(5);
    const byIndex = done.sort((a, b) => a.index - b.index);
    expect(byIndex.map((c) => c.intendedAt)).toEqual([0, 10, 20, 30, 40]);
    // Operation 1 was due at 10, could only go out at 50 (the window was full), acked at 51: 41 ms.
    expect(byIndex.map((c) => c.sentAt)).toEqual([0, 50, 51, 52, 53]);
    expect(byIndex.map(latencyOf)).toEqual([50, 41, 32, 23, 14]);
    // What a closed-loop tester would have reported: the stall hidden in all but one operation.
    expect(byIndex.map((c) => c.endAt - c.sentAt)).toEqual([50, 1, 1, 1, 1]);
  });

  it("sends on schedule while the cluster keeps up, so latency equals service time", async () => {
    const clock = new FakeClock();
    const done: Completion[] = [];
    const sent = runSchedule({
      rate: 1000,
      inflight: 8,
      until: 10,
      clock,
      send: () => new Promise<void>((r) => clock.at(clock.now() + 3, r)),
      onDone: (c) => done.push(c),
    });
    expect(await clock.run(sent)).toBe(10);
    expect(done.map((c) => c.sentAt - c.intendedAt)).toEqual(Array(10).fill(0));
    expect(done.map(latencyOf)).toEqual(Array(10).fill(3));
  });

  it("in closed loop keeps `inflight` operations outstanding and measures from the send", async () => {
    const clock = new FakeClock();
    const done: Completion[] = [];
    let outstanding = 0;
    let most = 0;
    const sent = runSchedule({
      inflight: 3,
      count: 9,
      clock,
      send: () => {
        most = Math.max(most, ++outstanding);
        return new Promise<void>((r) => clock.at(clock.now() + 5, r)).then(() => {
          outstanding--;
        });
      },
      onDone: (c) => done.push(c),
    });
    expect(await clock.run(sent)).toBe(9);
    expect(most).toBe(3);
    expect(done.map(latencyOf)).toEqual(Array(9).fill(5));
    expect(clock.now()).toBe(15);
  });

  it("reports a failed operation with its error and keeps going", async () => {
    const clock = new FakeClock();
    const done: Completion[] = [];
    const sent = runSchedule({
      rate: 100,
      inflight: 4,
      count: 3,
      clock,
      send: (i) =>
        new Promise((r, reject) =>
          clock.at(clock.now() + 2, () => (i === 1 ? reject(new Error("boom")) : r(1))),
        ),
      onDone: (c) => done.push(c),
    });
    expect(await clock.run(sent)).toBe(3);
    expect(done.map((c) => (c.error as Error | undefined)?.message)).toEqual([undefined, "boom", undefined]);
  });
});
