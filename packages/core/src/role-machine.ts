import { getInitialSnapshot, getNextSnapshot, setup } from "xstate";
import type { Role } from "./effects.ts";

/** Events that change a replica's role; nothing else may. */
export type RoleEvent =
  | { type: "LEASE_WON" }
  | { type: "RECONFIRMED" }
  /** The lease ran out or a higher pid appeared; `pending` = entries this replica issued are unresolved. */
  | { type: "STEP_DOWN"; pending: boolean }
  | { type: "TRANSFER" }
  | { type: "RESOLVED" };

/**
 * Role and phase of one replica. The machine decides which transitions are legal; the hot data path only
 * reads the current role, so an append costs no xstate event.
 */
export const roleMachine = setup({
  types: { events: {} as RoleEvent },
  guards: { hasPending: ({ event }) => event.type === "STEP_DOWN" && event.pending },
}).createMachine({
  id: "palfRole",
  initial: "follower",
  states: {
    follower: { on: { LEASE_WON: "candidate" } },
    candidate: {
      on: {
        RECONFIRMED: "leader",
        STEP_DOWN: [{ guard: "hasPending", target: "pendingFollower" }, { target: "follower" }],
      },
    },
    leader: { on: { STEP_DOWN: "pendingFollower", TRANSFER: "pendingFollower" } },
    pendingFollower: { on: { RESOLVED: "follower", LEASE_WON: "candidate" } },
  },
});

export type RoleSnapshot = ReturnType<typeof getInitialSnapshot<typeof roleMachine>>;

export function initialRole(): RoleSnapshot {
  return getInitialSnapshot(roleMachine);
}

/** Applies an event; returns undefined if the machine does not allow it in the current state. */
export function nextRole(snapshot: RoleSnapshot, event: RoleEvent): RoleSnapshot | undefined {
  if (!snapshot.can(event)) return undefined;
  return getNextSnapshot(roleMachine, snapshot, event);
}

export function roleOf(snapshot: RoleSnapshot): Role {
  return snapshot.value as Role;
}
