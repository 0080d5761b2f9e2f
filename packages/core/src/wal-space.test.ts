// Room in the WAL is reserved before an LSN is assigned (WalSpace): three replicas on a tiny hand-driven host
// whose "WAL" has a byte budget. Refused appends are back-pressure and get no LSN, a follower without room
// takes and acks nothing (or the run that fits), config and StartWorking entries may use the headroom, and
// every reservation ends exactly once: when its entry is persisted or when it is given back.
import { describe, expect, it } from "vitest";
import type { GroupEntryResult, PersistRecord, ReplicaEvent } from "./effects.ts";
import { GROUP_HEADER_BYTES } from "./group-entry.ts";
import { initialConfig } from "./member-config.ts";
import type { Ack, Message } from "./messages.ts";
import { Prng } from "./prng.ts";
import { internalsOf, Replica } from "./replica.ts";
import type { WalSpace } from "./wal-space.ts";

/** A WAL budget: data may use `left - headroom`, control entries all of `left`. */
class Space implements WalSpace {
  /** Reserved and neither persisted nor given back (the host ends a reservation at the entry's persist). */
  held = 0;
  refused = 0;
  constructor(
    public left = Number.POSITIVE_INFINITY,
    public headroom = 0,
  ) {}
  reserve(bytes: number, control: boolean): boolean {
    if (bytes > this.left - (control ? 0 : this.headroom)) {
      this.refused++;
      return false;
    }
    this.left -= bytes;
    this.held += bytes;
    return true;
  }
  release(bytes: number): void {
    this.left += bytes;
    this.held -= bytes;
  }
}

interface Node {
  readonly r: Replica;
  readonly space: Space;
  readonly persists: PersistRecord[];
  readonly sends: Message[];
  readonly results: GroupEntryResult[];
  readonly events: ReplicaEvent[];
  lastSeq: number;
  durableSeq: number;
  wakeAt: number;
}

const LEASE = {
  leaseMs: 1000,
  renewMs: 100,
  maxDrift: 0.01,
  leaseGuardMs: 10,
  voteWindowMs: 20,
  electionJitterMs: 200,
};

class Host {
  now = 0;
  readonly nodes = new Map<string, Node>();
  readonly queue: Message[] = [];
  readonly blocked = new Set<string>();
  /** Nodes whose records are never reported durable. */
  readonly holdDurable = new Set<string>();

  constructor(seed: number, spaces: Record<string, Space> = {}) {
    const ids = ["a", "b", "c"];
    for (const id of ids) {
      const space = spaces[id] ?? new Space();
      const node: Node = {
        r: undefined as unknown as Replica,
        space,
        persists: [],
        sends: [],
        results: [],
        events: [],
        lastSeq: 0,
        durableSeq: 0,
        wakeAt: Number.POSITIVE_INFINITY,
      };
      const r = new Replica(
        {
          group: 1,
          self: id,
          initialConfig: initialConfig(ids),
          seed: new Prng(seed + id.charCodeAt(0) * 7919).int(1, 2 ** 31),
          lease: LEASE,
          retransmitMs: 100,
          prepareTimeoutMs: 300,
        },
        {
          persist: (_g, seq, record) => {
            node.persists.push(record);
            node.lastSeq = seq;
            // The host ends an entry's reservation when it is asked to persist it (ShardWalSpace does the same).
            if (record.kind === "entry") space.held -= record.entry.end - record.entry.lsn;
          },
          send: (m) => {
            node.sends.push(m);
            this.queue.push(m);
          },
          result: (res) => node.results.push(res),
          event: (e) => node.events.push(e),
          wake: (_g, at) => {
            node.wakeAt = at;
          },
        },
        this.now,
      );
      r.useWalSpace(space);
      (node as { r: Replica }).r = r;
      this.nodes.set(id, node);
    }
  }

  n(id: string): Node {
    return this.nodes.get(id)!;
  }

  settle(): void {
    for (let round = 0; round < 10_000; round++) {
      while (this.queue.length > 0) {
        const m = this.queue.shift()!;
        if (this.blocked.has(`${m.from}>${m.to}`)) continue;
        const node = this.nodes.get(m.to);
        if (!node) continue;
        node.r.receive(m, this.now);
        node.r.endTurn(this.now);
      }
      let any = false;
      for (const [id, node] of this.nodes) {
        if (node.lastSeq > node.durableSeq && !this.holdDurable.has(id)) {
          node.durableSeq = node.lastSeq;
          node.r.durable(node.lastSeq, this.now);
          node.r.endTurn(this.now);
          any = true;
        }
      }
      if (!any && this.queue.length === 0) return;
    }
    throw new Error("no quiescence");
  }

  advance(ms: number): void {
    const target = this.now + ms;
    for (;;) {
      let next = Number.POSITIVE_INFINITY;
      for (const node of this.nodes.values()) next = Math.min(next, node.wakeAt);
      if (next > target) break;
      this.now = Math.max(this.now + 0.25, next);
      for (const node of this.nodes.values()) {
        if (node.wakeAt <= this.now) {
          node.r.tick(this.now);
          node.r.endTurn(this.now);
        }
      }
      this.settle();
    }
    this.now = target;
    this.settle();
  }

  leader(): Replica | undefined {
    for (const node of this.nodes.values())
      if (node.r.role === "leader" && node.r.leaseValid(this.now)) return node.r;
    return undefined;
  }

  elect(): Replica {
    for (let waited = 0; this.leader() === undefined; waited += 10) {
      if (waited > 10_000) throw new Error("no leader");
      this.advance(10);
    }
    return this.leader()!;
  }

  append(r: Replica, n: number) {
    const out = r.propose(new Uint8Array(n).fill(7), this.now);
    r.endTurn(this.now);
    return out;
  }

  /** Every reservation ends exactly once: what is still held is what open group entries have not persisted. */
  expectNoLeaks(): void {
    for (const [id, node] of this.nodes)
      expect(node.space.held, `held by ${id}`).toBe(node.r.unpersistedBytes());
  }
}

const okAcksFrom = (node: Node, since: number) =>
  node.sends.slice(since).filter((m): m is Ack => m.type === "ack" && m.ok);

describe("WAL space: reserved before an LSN is assigned", () => {
  it("an append without room is answered BACKPRESSURE and gets no LSN", () => {
    const h = new Host(31);
    const L = h.elect();
    const space = h.n(L.self).space;
    expect(h.append(L, 100).ok).toBe(true);
    h.settle();
    const end = L.log.end;
    const persisted = h.n(L.self).persists.length;
    space.left = 50;
    const next = L.nextLsn;
    expect(h.append(L, 100)).toMatchObject({ ok: false, code: "BACKPRESSURE" });
    expect(L.nextLsn).toBe(next);
    h.advance(50);
    expect(L.log.end).toBe(end);
    expect(
      h
        .n(L.self)
        .persists.slice(persisted)
        .filter((p) => p.kind === "entry"),
    ).toEqual([]);
    expect(space.refused).toBe(1);
    // Room again: the next append takes exactly the LSN the refused one did not get (the first entry of a
    // new group entry, past its header).
    space.left = Number.POSITIVE_INFINITY;
    const out = h.append(L, 100);
    expect(out).toMatchObject({ ok: true, lsn: next + GROUP_HEADER_BYTES });
    h.advance(50);
    expect(L.committedEnd).toBe(L.log.end);
    expect(h.n(L.self).results.at(-1)).toMatchObject({ outcome: "committed" });
    h.expectNoLeaks();
  });

  it("a follower without room takes and acks nothing; the leader's resend goes in once room is back", () => {
    const h = new Host(32);
    const L = h.elect();
    h.append(L, 10);
    h.advance(50);
    const f = [...h.nodes.values()].find((n) => n.r !== L)!;
    const end = f.r.log.end;
    const sent = f.sends.length;
    const persisted = f.persists.length;
    f.space.left = 0;
    for (let i = 0; i < 3; i++) {
      expect(h.append(L, 200).ok).toBe(true);
      h.settle();
    }
    h.advance(250);
    // The other follower makes the majority; this one took nothing, persisted no entry and acked nothing new.
    expect(L.committedEnd).toBe(L.log.end);
    expect(f.r.log.end).toBe(end);
    expect(f.persists.slice(persisted).filter((p) => p.kind === "entry")).toEqual([]);
    expect(okAcksFrom(f, sent).filter((a) => a.end > end)).toEqual([]);
    expect(f.space.refused).toBeGreaterThan(0);
    expect(f.events.some((e) => e.type === "rejected" && e.reason.includes("no room in the WAL"))).toBe(true);
    // It still learns the commit point of what it holds (so recycling can make room).
    expect(f.r.committedEnd).toBe(end);
    f.space.left = Number.POSITIVE_INFINITY;
    h.advance(300);
    expect(f.r.log.end).toBe(L.log.end);
    expect(internalsOf(L).progress.get(f.r.self)?.matchEnd).toBe(L.log.end);
    h.expectNoLeaks();
  });

  it("a follower with room for part of a push takes the run that fits and acks just that", () => {
    const h = new Host(33);
    const L = h.elect();
    h.append(L, 10);
    h.advance(50);
    const f = [...h.nodes.values()].find((n) => n.r !== L)!;
    const end = f.r.log.end;
    h.blocked.add(`${L.self}>${f.r.self}`);
    for (let i = 0; i < 4; i++) {
      h.append(L, 300);
      h.settle();
    }
    const ges = [
      ...(function* () {
        for (let ge = L.log.startingAt(end); ge; ge = L.log.startingAt(ge.end)) yield ge;
      })(),
    ];
    expect(ges.length).toBe(4);
    // Room for the first two group entries and a little more.
    f.space.left = ges[1]!.end - end + 10;
    const sent = f.sends.length;
    h.blocked.clear();
    h.advance(150);
    expect(f.r.log.end).toBe(ges[1]!.end);
    expect(Math.max(...okAcksFrom(f, sent).map((a) => a.end))).toBe(ges[1]!.end);
    expect(internalsOf(L).progress.get(f.r.self)?.matchEnd).toBe(ges[1]!.end);
    h.expectNoLeaks();
  });

  it("StartWorking and config entries still go through on the headroom when data has no room", () => {
    // Every replica has room for control entries only.
    const spaces = { a: new Space(2000, 2000), b: new Space(2000, 2000), c: new Space(2000, 2000) };
    const h = new Host(34, spaces);
    const L = h.elect();
    // A leader only after its StartWorking committed on a majority: control entries were written and acked.
    expect(L.committedEnd).toBeGreaterThan(0);
    expect(h.append(L, 8)).toMatchObject({ ok: false, code: "BACKPRESSURE" });
    expect(L.changeConfig({ type: "addLearner", id: "d" }, h.now)).toEqual({ ok: true });
    h.advance(200);
    expect(L.log.config.learners).toEqual(["d"]);
    expect(h.n(L.self).events).toContainEqual(expect.objectContaining({ type: "config", committed: true }));
    expect(L.committedEnd).toBe(L.log.end);
    h.expectNoLeaks();
  });

  it("a leader that steps down gives back what its open group entry reserved", () => {
    const h = new Host(35);
    const L = h.elect();
    h.append(L, 10);
    h.advance(50);
    const space = h.n(L.self).space;
    // Its first append freezes at once (everything was durable); later ones wait in the open group entry
    // for a flush that never completes.
    h.holdDurable.add(L.self);
    h.append(L, 50);
    h.append(L, 50);
    expect(L.unpersistedBytes()).toBeGreaterThan(0);
    expect(space.held).toBe(L.unpersistedBytes());
    // Cut off: the lease runs out, the open group entry is dropped, and so is its reservation.
    for (const id of h.nodes.keys()) if (id !== L.self) h.blocked.add(`${L.self}>${id}`);
    h.advance(LEASE.leaseMs * 2);
    expect(L.role).not.toBe("leader");
    expect(space.held).toBe(0);
    h.expectNoLeaks();
  });
});

describe("a candidate without room for the chosen log", () => {
  it("hands the lease to the replica whose log it chose instead of holding the group (seed 37)", () => {
    const h = new Host(37);
    const L = h.elect();
    h.append(L, 10);
    h.advance(50);
    const [B, C] = [...h.nodes.values()].filter((n) => n.r !== L);
    // C misses the last entries; B has them.
    h.blocked.add(`${L.self}>${C!.r.self}`);
    for (let i = 0; i < 3; i++) {
      h.append(L, 200);
      h.settle();
    }
    const end = L.log.end;
    expect(B!.r.log.end).toBe(end);
    expect(C!.r.log.end).toBeLessThan(end);
    // L is cut off; C, with no room left in its WAL, is the one members prefer.
    for (const id of h.nodes.keys()) {
      h.blocked.add(`${L.self}>${id}`);
      h.blocked.add(`${id}>${L.self}`);
    }
    C!.space.left = 0;
    C!.r.setPriority(5);
    const roles = () => C!.events.filter((e) => e.type === "role").map((e) => (e as { role: string }).role);
    for (
      let t = 0;
      t < LEASE.leaseMs * 4 && !(roles().includes("candidate") && C!.r.role === "follower");
      t += 10
    )
      h.advance(10);
    // C stood, found no room for the chosen log, and handed its lease to B, which stands at once.
    expect(roles()).toEqual(["candidate", "follower"]);
    expect(C!.events.some((e) => e.type === "rejected" && e.reason.includes("no room in the WAL"))).toBe(
      true,
    );
    expect(C!.sends.filter((m) => m.type === "timeoutNow").map((m) => m.to)).toEqual([B!.r.self]);
    // With L back, B has a majority whose logs take its StartWorking: it leads with the whole log.
    h.blocked.clear();
    h.advance(LEASE.leaseMs);
    expect(h.leader()?.self).toBe(B!.r.self);
    expect(B!.r.committedEnd).toBeGreaterThanOrEqual(end);
    // C follows it without room: it still checks what it holds, so its commit point moves (and recycling can
    // make room), and it takes the rest once there is room.
    expect(C!.r.committedEnd).toBe(C!.r.log.end);
    C!.space.left = Number.POSITIVE_INFINITY;
    h.advance(LEASE.leaseMs);
    expect(C!.r.log.end).toBe(B!.r.log.end);
  });
});

describe("recycling below a follower's acked end", () => {
  it("commit info to a follower whose ack lies below the leader's base is anchored at the base", () => {
    const h = new Host(36);
    const L = h.elect();
    h.append(L, 10);
    h.advance(50);
    const c = [...h.nodes.values()].find((n) => n.r !== L)!.r;
    const acked = internalsOf(L).progress.get(c.self)!.matchEnd;
    h.blocked.add(`${L.self}>${c.self}`);
    for (let i = 0; i < 3; i++) {
      h.append(L, 100);
      h.settle();
    }
    expect(L.committedEnd).toBe(L.log.end);
    L.advanceBase(L.committedEnd, h.now);
    expect(L.log.base.lsn).toBeGreaterThan(acked);
    // A refusal that points past our log end (its log is longer than ours) sends commit info, anchored where
    // we still know the pid: at our base, never at its acked end below it.
    const sent = h.n(L.self).sends.length;
    L.receive(
      {
        type: "ack",
        group: 1,
        inc: 0,
        from: c.self,
        to: L.self,
        pid: L.myPid,
        ok: false,
        end: -1,
        committedEnd: 0,
        retryFrom: L.log.end + 1000,
        promised: L.myPid,
      },
      h.now,
    );
    const infos = h
      .n(L.self)
      .sends.slice(sent)
      .filter((m) => m.type === "commitInfo" && m.to === c.self);
    expect(infos).toEqual([expect.objectContaining({ prevLsn: L.log.base.lsn, prevPid: L.log.base.pid })]);
    h.blocked.clear();
    h.advance(300);
    expect(c.log.end).toBe(L.log.end);
    expect(c.committedEnd).toBe(L.committedEnd);
  });
});
