// "Durable before it leaves": a message handed to sendWhenDurable reaches the sink only once the host has
// reported durable every record persisted before it; the durable end of the log moves only with durable().
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DurableGate } from "./durable-gate.ts";
import type { EffectSink, PersistRecord } from "./effects.ts";
import type { Message } from "./messages.ts";

function recorder() {
  const out: Array<{ kind: "persist"; seq: number } | { kind: "send"; message: Message }> = [];
  const sink: EffectSink = {
    persist: (_g, seq) => out.push({ kind: "persist", seq }),
    send: (message) => out.push({ kind: "send", message }),
    result: () => {},
    event: () => {},
    wake: () => {},
  };
  return { sink, out, sent: () => out.flatMap((o) => (o.kind === "send" ? [o.message] : [])) };
}

const meta: PersistRecord = { kind: "meta", meta: { promisedPid: 1, highestBallot: 1 } };
const msg = (n: number): Message => ({
  type: "prepare",
  group: 1,
  inc: 0,
  from: "a",
  to: "b",
  pid: n,
});

describe("DurableGate", () => {
  it("a truncation not yet durable caps the durable end at the truncation point (the disk past it holds the old log)", () => {
    // sim:node seed 132 (groups 3, chaos 15000): a candidate truncated its recovered tail and rewrote it; as
    // leader it counted the old tail's durable end as its own and committed into the middle of a new entry.
    const { sink } = recorder();
    const g = new DurableGate(1, sink, 18732, 1);
    const truncate: PersistRecord = { kind: "truncate", lsn: 18365 };
    const t = g.persist(truncate, { end: 18365, lastPid: 1 });
    expect([g.durableEnd, g.durableLastPid]).toEqual([18365, 1]);
    g.persist(meta, { end: 18530, lastPid: 2 });
    const last = g.persist(meta, { end: 18894, lastPid: 3 });
    expect(g.durableEnd).toBe(18365);
    g.durable(t);
    expect(g.durableEnd).toBe(18365);
    g.durable(last);
    expect([g.durableEnd, g.durableLastPid]).toEqual([18894, 3]);
  });

  it("appends that follow earlier appends never lower the durable end", () => {
    const { sink } = recorder();
    const g = new DurableGate(1, sink, 100, 1);
    const a = g.persist(meta, { end: 150, lastPid: 1 });
    expect(g.durableEnd).toBe(100);
    g.durable(a);
    expect(g.durableEnd).toBe(150);
  });

  it("holds a message until every earlier persist is durable, then releases it once", () => {
    const { sink, sent } = recorder();
    const g = new DurableGate(1, sink, 0, 0);
    expect(g.persist(meta)).toBe(1);
    expect(g.persist(meta)).toBe(2);
    g.sendWhenDurable(msg(1));
    expect(sent()).toEqual([]);
    g.durable(1);
    expect(sent()).toEqual([]);
    g.durable(2);
    expect(sent()).toEqual([msg(1)]);
    g.durable(2);
    g.durable(1);
    expect(sent()).toEqual([msg(1)]);
  });

  it("sends at once when nothing is pending; later persists do not hold an earlier message", () => {
    const { sink, sent } = recorder();
    const g = new DurableGate(1, sink, 0, 0);
    g.sendWhenDurable(msg(1));
    expect(sent()).toEqual([msg(1)]);
    g.persist(meta);
    g.sendWhenDurable(msg(2));
    g.persist(meta);
    g.sendWhenDurable(msg(3));
    g.durable(1);
    expect(sent()).toEqual([msg(1), msg(2)]);
    g.durable(2);
    expect(sent()).toEqual([msg(1), msg(2), msg(3)]);
  });

  it("durable() beyond what was asked does not pre-approve later persists", () => {
    const { sink, sent } = recorder();
    const g = new DurableGate(1, sink, 0, 0);
    g.persist(meta);
    g.durable(100);
    expect(g.durableSeq).toBe(1);
    g.persist(meta);
    expect(g.settled).toBe(false);
    g.sendWhenDurable(msg(1));
    expect(sent()).toEqual([]);
    g.durable(2);
    expect(sent()).toEqual([msg(1)]);
  });

  it("the durable end and last pid advance only with durable(), to the mark of the latest durable record", () => {
    const { sink } = recorder();
    const g = new DurableGate(1, sink, 100, 1);
    g.persist(meta, { end: 200, lastPid: 2 });
    g.persist(meta);
    g.persist(meta, { end: 300, lastPid: 3 });
    expect(g.durableEnd).toBe(100);
    expect(g.durableLastPid).toBe(1);
    g.durable(1);
    expect(g.durableEnd).toBe(200);
    expect(g.durableLastPid).toBe(2);
    g.durable(2);
    expect(g.durableEnd).toBe(200);
    g.durable(3);
    expect(g.durableEnd).toBe(300);
    expect(g.durableLastPid).toBe(3);
    // A truncation moves the durable end down at once: past it the disk no longer holds this log.
    g.persist({ kind: "truncate", lsn: 150 }, { end: 150, lastPid: 2 });
    expect(g.durableEnd).toBe(150);
    g.durable(4);
    expect(g.durableEnd).toBe(150);
  });

  it("the unsafeSendEarly fault lets a message out early (the guard the checkers must catch)", () => {
    const { sink, sent } = recorder();
    const g = new DurableGate(1, sink, 0, 0);
    g.unsafeSendEarly = true;
    g.persist(meta);
    g.sendWhenDurable(msg(1));
    expect(sent()).toEqual([msg(1)]);
  });

  it("property: no message leaves before all persists issued before it are durable (seed 99)", () => {
    type Op = { op: "persist"; end: boolean } | { op: "send" } | { op: "durable"; k: number };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ op: fc.constant("persist" as const), end: fc.boolean() }),
      fc.record({ op: fc.constant("send" as const) }),
      fc.record({ op: fc.constant("durable" as const), k: fc.nat(40) }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 120 }), (ops) => {
        const { sink, sent } = recorder();
        const g = new DurableGate(1, sink, 0, 0);
        let lastSeq = 0;
        let durableSeq = 0;
        let end = 0;
        let durableEnd = 0;
        const marks: Array<{ seq: number; end: number }> = [];
        const needs = new Map<number, number>(); // message id -> seq it waits for
        let id = 0;
        const check = () => {
          for (const m of sent()) {
            const need = needs.get((m as { pid: number }).pid)!;
            expect(need, `message ${(m as { pid: number }).pid}`).toBeLessThanOrEqual(durableSeq);
          }
          expect(g.durableEnd).toBe(durableEnd);
        };
        for (const o of ops) {
          if (o.op === "persist") {
            lastSeq++;
            if (o.end) {
              end += 10;
              marks.push({ seq: lastSeq, end });
            }
            g.persist(meta, o.end ? { end, lastPid: 1 } : undefined);
          } else if (o.op === "send") {
            id++;
            needs.set(id, lastSeq);
            g.sendWhenDurable(msg(id));
          } else {
            g.durable(o.k);
            durableSeq = Math.max(durableSeq, Math.min(o.k, lastSeq));
            for (const mk of marks) if (mk.seq <= durableSeq) durableEnd = mk.end;
          }
          check();
        }
        // Everything comes out, in order, once all is durable.
        g.durable(lastSeq);
        durableSeq = lastSeq;
        const ids = sent().map((m) => (m as { pid: number }).pid);
        expect(ids).toEqual(Array.from({ length: id }, (_, i) => i + 1));
      }),
      { numRuns: 300, seed: 99 },
    );
  });
});
