// The role machine decides which role changes are legal: the full table of (role, event) -> next role,
// so an illegal jump (a follower straight to leader, a leader re-elected without stepping down) is refused.
import { describe, expect, it } from "vitest";
import type { Role } from "./effects.ts";
import { initialRole, nextRole, type RoleEvent, type RoleSnapshot, roleOf } from "./role-machine.ts";

const EVENTS: Record<string, RoleEvent> = {
  LEASE_WON: { type: "LEASE_WON" },
  RECONFIRMED: { type: "RECONFIRMED" },
  "STEP_DOWN(pending)": { type: "STEP_DOWN", pending: true },
  "STEP_DOWN(clean)": { type: "STEP_DOWN", pending: false },
  TRANSFER: { type: "TRANSFER" },
  RESOLVED: { type: "RESOLVED" },
};

/** Expected next role for every (role, event); undefined = refused. */
const TABLE: Record<Role, Record<string, Role | undefined>> = {
  follower: {
    LEASE_WON: "candidate",
    RECONFIRMED: undefined,
    "STEP_DOWN(pending)": undefined,
    "STEP_DOWN(clean)": undefined,
    TRANSFER: undefined,
    RESOLVED: undefined,
  },
  candidate: {
    LEASE_WON: undefined,
    RECONFIRMED: "leader",
    "STEP_DOWN(pending)": "pendingFollower",
    "STEP_DOWN(clean)": "follower",
    TRANSFER: undefined,
    RESOLVED: undefined,
  },
  leader: {
    LEASE_WON: undefined,
    RECONFIRMED: undefined,
    "STEP_DOWN(pending)": "pendingFollower",
    "STEP_DOWN(clean)": "pendingFollower",
    TRANSFER: "pendingFollower",
    RESOLVED: undefined,
  },
  pendingFollower: {
    LEASE_WON: "candidate",
    RECONFIRMED: undefined,
    "STEP_DOWN(pending)": undefined,
    "STEP_DOWN(clean)": undefined,
    TRANSFER: undefined,
    RESOLVED: "follower",
  },
};

function reach(role: Role): RoleSnapshot {
  const path: Record<Role, RoleEvent[]> = {
    follower: [],
    candidate: [EVENTS.LEASE_WON!],
    leader: [EVENTS.LEASE_WON!, EVENTS.RECONFIRMED!],
    pendingFollower: [EVENTS.LEASE_WON!, EVENTS.RECONFIRMED!, EVENTS["STEP_DOWN(pending)"]!],
  };
  let s = initialRole();
  for (const e of path[role]) s = nextRole(s, e)!;
  expect(roleOf(s)).toBe(role);
  return s;
}

describe("role machine", () => {
  it("starts as follower", () => {
    expect(roleOf(initialRole())).toBe("follower");
  });

  for (const [role, row] of Object.entries(TABLE) as Array<[Role, Record<string, Role | undefined>]>) {
    for (const [name, want] of Object.entries(row)) {
      it(`${role} + ${name} -> ${want ?? "refused"}`, () => {
        const s = reach(role);
        const n = nextRole(s, EVENTS[name]!);
        if (want === undefined) expect(n).toBeUndefined();
        else expect(n && roleOf(n)).toBe(want);
        // A refused event leaves the snapshot as it was.
        expect(roleOf(s)).toBe(role);
      });
    }
  }

  it("the full cycle: follower -> candidate -> leader -> pendingFollower -> candidate -> leader", () => {
    let s = initialRole();
    const seen: Role[] = [roleOf(s)];
    for (const e of [
      EVENTS.LEASE_WON!,
      EVENTS.RECONFIRMED!,
      EVENTS["STEP_DOWN(pending)"]!,
      EVENTS.LEASE_WON!,
      EVENTS.RECONFIRMED!,
      EVENTS.TRANSFER!,
      EVENTS.RESOLVED!,
    ]) {
      s = nextRole(s, e)!;
      seen.push(roleOf(s));
    }
    expect(seen).toEqual([
      "follower",
      "candidate",
      "leader",
      "pendingFollower",
      "candidate",
      "leader",
      "pendingFollower",
      "follower",
    ]);
  });
});
