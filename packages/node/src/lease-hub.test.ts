import type { Message, Replica } from "@palf/core";
import { describe, expect, it } from "vitest";
import { LeaseHub } from "./lease-hub.ts";
import type { NodeUnsafeSwitches } from "./node-unsafe.ts";
import type { NodeRuntime, TimerHandle } from "./runtime.ts";

const timing = { renewMs: 500, leaseMs: 4000, maxDrift: 0.01, leaseGuardMs: 50 };

/** A replica as the hub sees it: lease held or not, ballot, members, grants it gave. */
function fakeReplica(
  group: number,
  opts: { leads?: boolean; ballot?: number; members: string[]; grantTo?: [string, number] },
) {
  let grant = opts.grantTo;
  const renewedWith: string[] = [];
  // Only what the hub uses of a Replica, checked against its type so the fake cannot drift from it.
  const r: Pick<Replica, "group" | "leaseHeld" | "leaseBallot" | "grantsLeaseTo" | "renewLeaseWith"> & {
    latestConfig: { members: string[] };
  } = {
    group,
    latestConfig: { members: opts.members },
    leaseHeld: opts.leads ?? false,
    leaseBallot: opts.ballot ?? 1,
    grantsLeaseTo: (to: string, ballot: number) =>
      grant !== undefined && grant[0] === to && grant[1] === ballot,
    renewLeaseWith: (m: string) => {
      renewedWith.push(m);
    },
  };
  return {
    r: r as unknown as Replica,
    setGrant: (g: [string, number] | undefined) => (grant = g),
    renewedWith,
  };
}

/** A clock moved by the test; timeouts run when `advance` passes them. */
class StepClock implements NodeRuntime {
  t = 1000;
  private timeouts = new Map<object, { at: number; fn: () => void }>();
  now(): number {
    return this.t;
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const h = {};
    this.timeouts.set(h, { at: this.t + ms, fn });
    return h;
  }
  clearTimeout(h: TimerHandle | undefined): void {
    if (h) this.timeouts.delete(h as object);
  }
  setInterval(): TimerHandle {
    return {};
  }
  clearInterval(): void {}
  setImmediate(fn: () => void): void {
    queueMicrotask(fn);
  }
  advance(ms: number): void {
    this.t += ms;
    for (;;) {
      const due = [...this.timeouts].find(([, x]) => x.at <= this.t);
      if (!due) return;
      this.timeouts.delete(due[0]);
      due[1].fn();
    }
  }
  /** Timeouts armed now. */
  get armed(): number {
    return this.timeouts.size;
  }
}

/** Two hubs (leader node L, member node M) wired back to back, delivering synchronously. */
function pair(
  leaderReplicas: Replica[],
  memberReplicas: Replica[],
  clock?: StepClock,
  unsafe: NodeUnsafeSwitches = {},
) {
  const hubs: Record<string, LeaseHub> = {};
  const sent: Message[] = [];
  /** Messages this says to drop are lost on the way (sent, never delivered). */
  const net: { drop: (m: Message) => boolean } = { drop: () => false };
  const woken = { L: [] as number[], M: [] as number[] };
  const make = (id: string, replicas: Replica[]) => {
    const byGroup = new Map(replicas.map((r) => [r.group, r]));
    return new LeaseHub(
      {
        nodeId: id,
        replicas: () => replicas,
        replica: (g) => byGroup.get(g),
        touch: () => {},
        wake: (g) => woken[id as "L" | "M"].push(g),
        send: (_to, messages) => {
          for (const m of messages) {
            sent.push(m);
            if (net.drop(m)) continue;
            const target = hubs[m.to]!;
            if (m.type === "leaseRenew") target.onRenew(m, now.t);
            else if (m.type === "leaseRenewReply") target.onReply(m, now.t);
          }
        },
      },
      timing,
      clock,
      unsafe,
    );
  };
  const now = clock ?? { t: 1000 };
  hubs.L = make("L", leaderReplicas);
  hubs.M = make("M", memberReplicas);
  return { L: hubs.L, M: hubs.M, now, sent, net, woken };
}

/** Group 1 led by L (ballot 7) and granted to it by member M. */
function oneGroupPair() {
  const leader = [fakeReplica(1, { leads: true, ballot: 7, members: ["L", "M"] })];
  const member = [fakeReplica(1, { members: ["L", "M"], grantTo: ["L", 7] })];
  return {
    leader,
    member,
    ...pair(
      leader.map((x) => x.r),
      member.map((x) => x.r),
    ),
  };
}

describe("coalesced lease renewals", () => {
  it("renew every granted group with one message per node pair, and count the member's grants", () => {
    const leader = [1, 2, 3].map((g) => fakeReplica(g, { leads: true, ballot: 7, members: ["L", "M"] }).r);
    const member = [1, 2, 3].map((g) => fakeReplica(g, { members: ["L", "M"], grantTo: ["L", 7] }).r);
    const { L, M, now, sent } = pair(leader, member);
    L.renewAll(now.t);
    expect(sent.filter((m) => m.type === "leaseRenew" && m.to === "M")).toHaveLength(1);
    // Member side: the grants stay renewed a lease from receipt.
    expect(M.grantRenewedUntil(2, "L", 7)).toBe(now.t + timing.leaseMs);
    expect(M.grantRenewedUntil(2, "L", 6)).toBe(Number.NEGATIVE_INFINITY);
    expect(M.leaderHeardUntil(3)).toBe(now.t + timing.leaseMs);
    // Leader side: counted from the send time, shortened by drift and guard (never longer than the member's).
    const counted = L.memberGrantUntil(2, "M", 7);
    expect(counted).toBeLessThan(M.grantRenewedUntil(2, "L", 7));
    expect(counted).toBe(now.t + timing.leaseMs * (1 - 2 * timing.maxDrift) - timing.leaseGuardMs);
    // The next renewals carry no set (same epoch), yet move both sides forward.
    now.t += 500;
    sent.length = 0;
    L.renewAll(now.t);
    const renew = sent.find((m) => m.type === "leaseRenew" && m.to === "M");
    expect(renew?.type === "leaseRenew" && renew.groups).toEqual([]);
    expect(M.grantRenewedUntil(2, "L", 7)).toBe(now.t + timing.leaseMs);
    expect(L.memberGrantUntil(2, "M", 7)).toBeGreaterThan(counted);
  });

  it("a member that holds no grant for a group refuses it: the leader stops counting it and asks per group", () => {
    const leaders = [1, 2].map((g) =>
      fakeReplica(g, { leads: true, ballot: 7, members: ["L", "M"], grantTo: ["L", 7] }),
    );
    const member = [
      fakeReplica(1, { members: ["L", "M"], grantTo: ["L", 7] }),
      fakeReplica(2, { members: ["L", "M"], grantTo: ["X", 3] }),
    ];
    const { L, now } = pair(
      leaders.map((x) => x.r),
      member.map((x) => x.r),
    );
    L.renewAll(now.t);
    expect(L.memberGrantUntil(1, "M", 7)).toBeGreaterThan(now.t);
    expect(L.memberGrantUntil(2, "M", 7)).toBe(Number.NEGATIVE_INFINITY);
    expect(leaders[1]!.renewedWith).toEqual(["M"]);
  });

  it("a grant moved to another leader is reported at the next reply, even without a new set", () => {
    const { member, L, M, now } = oneGroupPair();
    L.renewAll(now.t);
    expect(L.memberGrantUntil(1, "M", 7)).toBeGreaterThan(now.t);
    // Much later (the lease lapsed at M), M grants group 1 to another candidate.
    now.t += 10_000;
    member[0]!.setGrant(["X", 8]);
    M.grantMoved(1, "X");
    expect(M.grantRenewedUntil(1, "L", 7)).toBe(Number.NEGATIVE_INFINITY);
    L.renewAll(now.t);
    expect(L.memberGrantUntil(1, "M", 7)).toBe(Number.NEGATIVE_INFINITY);
  });

  it("a member's acks move a lease end earlier only with a coverageVersion change (leaders trust a cached end until then)", () => {
    const { member, L, M, now } = oneGroupPair();
    L.renewAll(now.t);
    let until = L.memberGrantUntil(1, "M", 7);
    const coverage = L.coverageVersion;
    // Plain renewals: the end only moves later, and the coverage version stays.
    for (let i = 0; i < 5; i++) {
      now.t += 500;
      L.renewAll(now.t);
      expect(L.memberGrantUntil(1, "M", 7)).toBeGreaterThan(until);
      until = L.memberGrantUntil(1, "M", 7);
      expect(L.coverageVersion).toBe(coverage);
    }
    // The member moves its grant: the end drops, and the coverage version says so.
    member[0]!.setGrant(["X", 8]);
    M.grantMoved(1, "X");
    L.renewAll(now.t);
    expect(L.memberGrantUntil(1, "M", 7)).toBe(Number.NEGATIVE_INFINITY);
    expect(L.coverageVersion).not.toBe(coverage);
  });

  it("a group a member refused stays uncounted when the member later refuses another group", () => {
    const h = groupsOf(3, () => ["L", 7], {});
    const { member, L, now } = h;
    moveGrantsOneByOne(h);
    // M's last reply names group 2 only: group 1 is still granted to X, so L must not count M for it (two
    // leases for group 1 at once: L's with M's ack, X's with M's grant).
    expect(L.memberGrantUntil(2, "M", 7)).toBe(Number.NEGATIVE_INFINITY);
    expect(L.memberGrantUntil(1, "M", 7)).toBe(Number.NEGATIVE_INFINITY);
    // A full set (sent every few renewals) has M check every group again: still none for L.
    for (let i = 0; i < 8; i++) {
      now.t += 500;
      L.renewAll(now.t);
    }
    expect(L.memberGrantUntil(1, "M", 7)).toBe(Number.NEGATIVE_INFINITY);
    expect(L.memberGrantUntil(2, "M", 7)).toBe(Number.NEGATIVE_INFINITY);
    // Once M grants L group 1 again, a full set counts it again.
    member[1]!.setGrant(["L", 7]);
    for (let i = 0; i < 8; i++) {
      now.t += 500;
      L.renewAll(now.t);
    }
    expect(L.memberGrantUntil(1, "M", 7)).toBeGreaterThan(now.t);
    expect(L.memberGrantUntil(2, "M", 7)).toBe(Number.NEGATIVE_INFINITY);
  });

  it("a set sent in parts counts what every part's reply refused", () => {
    // One group more than a message carries: the set travels in two parts, each answered on its own.
    const n = 20_001;
    const leader = Array.from({ length: n }, (_, g) =>
      fakeReplica(g, { leads: true, ballot: 7, members: ["L", "M"] }),
    );
    const member = Array.from({ length: n }, (_, g) =>
      fakeReplica(g, { members: ["L", "M"], grantTo: g === 0 || g === n - 1 ? ["X", 8] : ["L", 7] }),
    );
    const { L, now } = pair(
      leader.map((x) => x.r),
      member.map((x) => x.r),
    );
    L.renewAll(now.t);
    expect(L.memberGrantUntil(0, "M", 7)).toBe(Number.NEGATIVE_INFINITY);
    expect(L.memberGrantUntil(n - 1, "M", 7)).toBe(Number.NEGATIVE_INFINITY);
    expect(L.memberGrantUntil(1, "M", 7)).toBeGreaterThan(now.t);
  });

  it("a new set whose second part is lost renews none of that part's groups at the leader", () => {
    const n = 20_001;
    const h = groupsOf(n, () => ["L", 7], {});
    const counted = sendNewSetLosingSecondPart(h);
    expect(counted).toBeGreaterThan(h.now.t);
    // M renewed none of the lost part's groups, and L's count for them did not move.
    expect(h.M.grantRenewedUntil(n - 1, "L", 7)).toBe(Number.NEGATIVE_INFINITY);
    expect(h.L.memberGrantUntil(n - 1, "M", 7)).toBeLessThanOrEqual(counted);
  });

  it("a member that lost its state (restart) asks for the set instead of renewing blindly", () => {
    const leader = [fakeReplica(1, { leads: true, ballot: 7, members: ["L", "M"] })];
    const member = [fakeReplica(1, { members: ["L", "M"], grantTo: ["L", 7] })];
    const { L, now, sent } = pair(
      leader.map((x) => x.r),
      member.map((x) => x.r),
    );
    L.renewAll(now.t);
    // M restarts: a fresh hub knows no epoch.
    const fresh = new LeaseHub(
      {
        nodeId: "M",
        replicas: () => [],
        replica: () => undefined,
        touch: () => {},
        wake: () => {},
        send: (_t, ms) => {
          for (const m of ms) if (m.type === "leaseRenewReply") L.onReply(m, now.t);
        },
      },
      timing,
    );
    const before = L.memberGrantUntil(1, "M", 7);
    now.t += 500;
    fresh.onRenew(
      { type: "leaseRenew", group: 0, inc: 0, from: "L", to: "M", seq: 2, epoch: 1, groups: [] },
      now.t,
    );
    expect(fresh.grantRenewedUntil(1, "L", 7)).toBe(Number.NEGATIVE_INFINITY);
    expect(L.memberGrantUntil(1, "M", 7)).toBe(before);
    sent.length = 0;
    L.renewAll(now.t);
    const renew = sent.find((m) => m.type === "leaseRenew" && m.to === "M");
    expect(renew?.type === "leaseRenew" && renew.groups).toEqual([1, 7]);
  });

  it("a leader keeps no timer per group: its node wakes the groups a member's acks covered once they lapse or stop covering them", () => {
    const clock = new StepClock();
    const leaders = [1, 2, 3].map((g) => fakeReplica(g, { leads: true, ballot: 7, members: ["L", "M"] }));
    const member = [1, 2, 3].map((g) => fakeReplica(g, { members: ["L", "M"], grantTo: ["L", 7] }));
    const { L, woken } = pair(
      leaders.map((x) => x.r),
      member.map((x) => x.r),
      clock,
    );
    L.renewAll(clock.t);
    const until = L.memberGrantUntil(2, "M", 7);
    // One timer for the node, whatever the number of groups.
    expect(clock.armed).toBe(1);
    // Acked renewals every interval move the lapse time on; nothing is woken.
    for (let i = 0; i < 20; i++) {
      clock.advance(timing.renewMs);
      L.renewAll(clock.t);
    }
    expect(woken.L).toEqual([]);
    expect(L.memberGrantUntil(2, "M", 7)).toBeGreaterThan(until);
    // M refuses group 3 (its grant moved): that group alone is woken at once.
    member[2]!.setGrant(["X", 9]);
    L.markDirty();
    L.renewAll(clock.t);
    expect(woken.L).toEqual([3]);
    // No renewal is acked any more (M went silent): once the lapse time passes, every group M still covered
    // is woken.
    const lapse = L.memberGrantUntil(1, "M", 7);
    clock.advance(lapse - clock.t - 1);
    expect(woken.L).toEqual([3]);
    clock.advance(1);
    expect(woken.L.slice(1).sort()).toEqual([1, 2]);
    expect(L.stats.lapseWakes).toBe(3);
  });
});

/** Leader L and member M over `n` groups L leads at ballot 7; M grants each to whom `grantTo(g)` names. */
function groupsOf(n: number, grantTo: (g: number) => [string, number], unsafe: NodeUnsafeSwitches) {
  const leader = Array.from({ length: n }, (_, g) =>
    fakeReplica(g, { leads: true, ballot: 7, members: ["L", "M"] }),
  );
  const member = Array.from({ length: n }, (_, g) =>
    fakeReplica(g, { members: ["L", "M"], grantTo: grantTo(g) }),
  );
  const hubs = pair(
    leader.map((x) => x.r),
    member.map((x) => x.r),
    undefined,
    unsafe,
  );
  return { leader, member, ...hubs };
}

// Guard of "a member's acks cover only what it grants": with hubRecountRefused on, the hub rebuilds coverage
// the naive way, and each scenario the tests above keep clean counts a group M does not grant L.
describe("guard: hubRecountRefused (a member's acks cover only what it grants)", () => {
  it("breaks: a group M refused earlier is counted again when M refuses another group", () => {
    const h = groupsOf(3, () => ["L", 7], { hubRecountRefused: true });
    moveGrantsOneByOne(h);
    expect(h.L.memberGrantUntil(2, "M", 7)).toBe(Number.NEGATIVE_INFINITY);
    // Group 1 is still granted to X, yet L counts M's ack for it: two leases at once.
    expect(h.L.memberGrantUntil(1, "M", 7)).toBeGreaterThan(h.now.t);
  });

  it("breaks: a set sent in parts counts a group its first part's reply refused", () => {
    const n = 20_001;
    const { L, now } = groupsOf(n, (g) => (g === 0 || g === n - 1 ? ["X", 8] : ["L", 7]), {
      hubRecountRefused: true,
    });
    L.renewAll(now.t);
    expect(L.memberGrantUntil(0, "M", 7)).toBeGreaterThan(now.t);
  });

  it("breaks: a new set whose second part is lost renews that part's groups at the leader", () => {
    const n = 20_001;
    const h = groupsOf(n, () => ["L", 7], { hubRecountRefused: true });
    const counted = sendNewSetLosingSecondPart(h);
    // M never renewed group n-1 (its part was lost), yet L's count for it moved later.
    expect(h.M.grantRenewedUntil(n - 1, "L", 7)).toBe(Number.NEGATIVE_INFINITY);
    expect(h.L.memberGrantUntil(n - 1, "M", 7)).toBeGreaterThan(counted);
  });
});

/**
 * L renews its set; then group 0's ballot changes, so a new set goes out in two parts and the second part is
 * lost on the way to M. Returns L's count for the last group (in the lost part) before the new set.
 */
function sendNewSetLosingSecondPart(h: ReturnType<typeof groupsOf>): number {
  const { leader, member, L, now, net } = h;
  L.renewAll(now.t);
  const counted = L.memberGrantUntil(leader.length - 1, "M", 7);
  now.t += 500;
  (leader[0]!.r as { leaseBallot: number }).leaseBallot = 9;
  member[0]!.setGrant(["L", 9]);
  L.markDirty();
  let parts = 0;
  net.drop = (m) => m.type === "leaseRenew" && m.to === "M" && ++parts === 2;
  L.renewAll(now.t);
  return counted;
}

/**
 * L renews; much later (the lease lapsed at M) M grants group 1 to X and says so at its next reply, which L
 * must count; then M grants group 2 to Y, and its next reply names group 2 only.
 */
function moveGrantsOneByOne(h: ReturnType<typeof groupsOf>): void {
  const { member, L, M, now } = h;
  L.renewAll(now.t);
  expect(L.memberGrantUntil(1, "M", 7)).toBeGreaterThan(now.t);
  now.t += 10_000;
  member[1]!.setGrant(["X", 8]);
  M.grantMoved(1, "X");
  L.renewAll(now.t);
  expect(L.memberGrantUntil(1, "M", 7)).toBe(Number.NEGATIVE_INFINITY);
  now.t += 500;
  member[2]!.setGrant(["Y", 8]);
  M.grantMoved(2, "Y");
  L.renewAll(now.t);
}
