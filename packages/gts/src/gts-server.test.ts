import { describe, expect, it } from "vitest";
import type { GtsHost } from "./gts-host.ts";
import { type GtsAnswer, GtsServer } from "./gts-server.ts";

/** A GTS group in miniature: a log of ceilings, a commit switch, a leader pid and a clock. */
class FakeHost implements GtsHost {
  pid = 1;
  now = 1_000_000;
  ceilings: number[] = [];
  committed: number[] = [];
  hold = false;
  private held: Array<() => void> = [];
  leaderPid(): number {
    return this.pid;
  }
  leaderHint(): string | undefined {
    return this.pid === 0 ? "other" : undefined;
  }
  committedCeiling(): number {
    return Math.max(0, ...this.committed);
  }
  nowUs(): number {
    return this.now;
  }
  appendCeiling(value: number): Promise<boolean> {
    this.ceilings.push(value);
    return new Promise((resolve) => {
      const commit = () => {
        this.committed.push(value);
        resolve(true);
      };
      if (this.hold) this.held.push(commit);
      else queueMicrotask(commit);
    });
  }
  release(): void {
    for (const c of this.held.splice(0)) c();
  }
}

const start = (a: GtsAnswer) => (a.ok ? a.start : Number.NaN);

describe("GTS server", () => {
  it("serves nothing until its own ceiling commits, then strictly increasing ranges below it", async () => {
    const host = new FakeHost();
    host.hold = true;
    const server = new GtsServer(host, { windowUs: 3_000_000 });
    let answered = false;
    const first = server.serve(10).then((a) => {
      answered = true;
      return a;
    });
    await Promise.resolve();
    expect(answered).toBe(false);
    host.hold = false;
    host.release();
    const a = await first;
    expect(a).toEqual({ ok: true, start: 1_000_001, count: 10 });
    const b = await server.serve(5);
    expect(start(b)).toBe(1_000_011);
    expect(start(b) + 5).toBeLessThanOrEqual(host.committedCeiling());
  });

  it("never serves at or above the committed ceiling: it extends first when a range would cross it", async () => {
    const host = new FakeHost();
    const server = new GtsServer(host, { windowUs: 1000 });
    let last = 0;
    for (let i = 0; i < 50; i++) {
      host.now += 100;
      const a = await server.serve(300);
      expect(a.ok).toBe(true);
      const s = start(a);
      expect(s).toBeGreaterThan(last);
      last = s + 299;
      expect(last).toBeLessThan(host.committedCeiling());
    }
  });

  it("a new leader starts above every committed ceiling even when its clock is behind", async () => {
    const host = new FakeHost();
    const server = new GtsServer(host, { windowUs: 3_000_000 });
    const before = await server.serve(1);
    const ceiling = host.committedCeiling();
    // Failover to a node whose clock is a minute behind: the successor reads the ceilings from its log.
    const successor = new GtsServer(Object.assign(host, { pid: 2, now: host.now - 60_000_000 }));
    const after = await successor.serve(1);
    expect(start(after)).toBeGreaterThan(ceiling);
    expect(start(after)).toBeGreaterThan(start(before));
  });

  it("answers NOT_LEADER once its lease is gone, also for a range generated before it noticed", async () => {
    const host = new FakeHost();
    const server = new GtsServer(host);
    await server.serve(1);
    host.pid = 0;
    expect(await server.serve(1)).toEqual({ ok: false, code: "NOT_LEADER", leader: "other" });
  });

  it("follows a clock that jumps far ahead in bounded ceiling steps", async () => {
    const host = new FakeHost();
    const server = new GtsServer(host, { windowUs: 1000, maxStepUs: 10_000 });
    await server.serve(1);
    const before = host.ceilings.length;
    host.now += 1_000_000;
    const a = await server.serve(1);
    expect(a.ok).toBe(true);
    const steps = host.ceilings.slice(before);
    for (let i = 1; i < steps.length; i++) expect(steps[i]! - steps[i - 1]!).toBeLessThanOrEqual(10_000);
  });
});
