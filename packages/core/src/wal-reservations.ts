import { GROUP_HEADER_BYTES, type GroupEntry, GroupFlag } from "./group-entry.ts";
import { encodedEntrySize } from "./log-entry.ts";
import { encodeConfig } from "./member-config.ts";
import type { ReplicaState } from "./replica-state.ts";
import type { Lsn, MemberConfig } from "./types.ts";

// What a replica reserves in the host's WAL (see WalSpace in wal-space.ts): log bytes per append, per
// control entry, per accepted run of group entries.

/** What the leader reserves for one append: the entry, and the group entry's header if it opens one. */
export function appendBytes(r: ReplicaState, payloadBytes: number, session: boolean): number {
  return encodedEntrySize(payloadBytes, session) + (r.open ? 0 : GROUP_HEADER_BYTES);
}

/** Reserves room for a config or StartWorking entry carrying `config` (a group entry of its own). */
export function reserveControl(r: ReplicaState, config: MemberConfig): boolean {
  if (r.walSpace === undefined) return true;
  return r.walSpace.reserve(GROUP_HEADER_BYTES + encodedEntrySize(encodeConfig(config).length, false), true);
}

/**
 * Where the contiguous `entries` stop matching what this replica holds (same pid, same end), or undefined if
 * it holds them all. The accept loops of pushes and fetch replies take every entry from there on, so their
 * log bytes are `last end - this`.
 */
export function newEntriesFrom(r: ReplicaState, entries: readonly GroupEntry[]): Lsn | undefined {
  for (const e of entries) {
    const mine = r.log.startingAt(e.lsn);
    if (!(mine && mine.pid === e.pid && mine.end === e.end)) return e.lsn;
  }
  return undefined;
}

/**
 * Reserves room for the contiguous `entries` from `from` on, group entry by group entry (one holding a config
 * or StartWorking entry as control), and returns where the reserved run ends: the last entry's end if all
 * fit, `from` if none does.
 */
export function reserveEntries(r: ReplicaState, entries: readonly GroupEntry[], from: Lsn): Lsn {
  const space = r.walSpace;
  let end = from;
  for (const e of entries) {
    if (e.lsn < from) continue;
    if (space !== undefined && !space.reserve(e.end - e.lsn, (e.flags & GroupFlag.config) !== 0)) break;
    end = e.end;
  }
  return end;
}

/** Log bytes this replica reserved and has not asked to persist yet (its open group entry); the host releases them when it drops the replica. */
export function unpersistedBytes(r: ReplicaState): number {
  return r.open ? r.open.nextLsn - r.open.lsn : 0;
}
