// Three replicas on a network whose every message is read DELAY_MS after it was sent, as on nodes whose loop
// turns are slow (a reply waits for the end of the sender's turn and the next turn of the reader). Disks are
// durable at once. The hosts report (or do not report) that lag through useLoopLag.
import { describe, expect, it } from "vitest";
import type { EffectSink } from "./effects.ts";
import { initialConfig } from "./member-config.ts";
import type { Message } from "./messages.ts";
import { defaultLease } from "./options.ts";
import { Replica } from "./replica.ts";

const DELAY_MS = 600;
// The defaults palfd runs with: a 4 s lease, 100 ms vote window.
const LEASE = defaultLease;

function slowCluster(seed: number, lagMs: number) {
  let now = 0;
  const ids = ["a", "b", "c"];
  const inFlight: Array<{ at: number; m: Message }> = [];
  const wakeAt = new Map<string, number>();
  const persisted = new Map<string, number>();
  const replicas = new Map<string, Replica>();
  let elections = 0;
  let votesSent = 0;
  for (const id of ids) {
    const sink: EffectSink = {
      persist: (_g, seq) => persisted.set(id, seq),
      send: (m) => {
        if (m.type === "vote") votesSent++;
        inFlight.push({ at: now + DELAY_MS, m });
      },
      result: () => {},
      event: (e) => {
        if (e.type === "role" && e.role === "candidate") elections++;
      },
      wake: (_g, at) => wakeAt.set(id, at),
    };
    const r = new Replica(
      {
        group: 1,
        self: id,
        initialConfig: initialConfig(ids),
        seed: seed * 31 + id.charCodeAt(0),
        lease: LEASE,
      },
      sink,
      now,
    );
    r.useLoopLag({ lagMs: () => lagMs });
    replicas.set(id, r);
  }
  const turn = (r: Replica) => {
    const seq = persisted.get(r.self);
    if (seq !== undefined) r.durable(seq, now);
    r.endTurn(now);
  };
  const run = (ms: number) => {
    for (const end = now + ms; now < end; now += 10) {
      for (let i = 0; i < inFlight.length; ) {
        const f = inFlight[i]!;
        if (f.at > now) i++;
        else {
          inFlight.splice(i, 1);
          const r = replicas.get(f.m.to)!;
          r.receive(f.m, now);
          turn(r);
        }
      }
      for (const r of replicas.values()) {
        if ((wakeAt.get(r.self) ?? Number.POSITIVE_INFINITY) <= now) r.tick(now);
        turn(r);
      }
    }
  };
  const leaders = () => [...replicas.values()].filter((r) => r.role === "leader" && r.leaseValid(now));
  return { run, leaders, elections: () => elections, votesSent: () => votesSent };
}

describe("loop lag: round-trip timeouts stretch with slow loop turns", () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}: with replies ${DELAY_MS} ms late and the lag reported, a leader is elected and keeps its lease`, () => {
      const c = slowCluster(seed, 200);
      c.run(20_000);
      expect(c.leaders().length, `seed ${seed}`).toBe(1);
      const won = c.elections();
      c.run(20_000);
      // Leases are renewed in time, so no one stands again.
      expect(c.leaders().length, `seed ${seed}`).toBe(1);
      expect(c.elections(), `seed ${seed}`).toBe(won);
    });
  }

  it("a node whose turns are so slow that a round trip would eat half a lease does not stand at all", () => {
    const c = slowCluster(1, 400);
    c.run(20_000);
    expect(c.leaders()).toEqual([]);
    expect(c.votesSent()).toBe(0);
  });

  it(`without the lag reported, the same cluster never elects a leader (each campaign ends before its replies are read)`, () => {
    const c = slowCluster(1, 0);
    c.run(20_000);
    expect(c.leaders()).toEqual([]);
  });
});
