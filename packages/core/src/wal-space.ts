import { GROUP_HEADER_BYTES, type GroupEntry, GroupFlag } from "./group-entry.ts";
import { encodedEntrySize } from "./log-entry.ts";
import { encodeConfig } from "./member-config.ts";
import type { Replica } from "./replica.ts";
import type { Lsn, MemberConfig } from "./types.ts";

/**
 * Room in the host's WAL, reserved before an LSN is assigned (DESIGN.md, rules that keep it safe: a write
 * error after an LSN was assigned takes the replica out of service, so check the disk budget before
 * assigning). A leader reserves an append's bytes before it gives the append its LSN, and every replica
 * reserves the entries it is about to take into its log (a push, a fetched log, a config or StartWorking
 * entry). A refusal is back-pressure, never a failed write: the append is answered BACKPRESSURE, a push is
 * dropped unacked (its leader resends it later), a config change or a StartWorking waits.
 *
 * Bytes are log bytes: an entry's encoded size, plus GROUP_HEADER_BYTES for the group entry it opens, so what a
 * replica reserved for a group entry equals its size in the log (end - lsn) when it asks to persist it; the
 * host ends a reservation there. Records that must always be written (promises and ballots, bases,
 * truncations) reserve nothing: the host keeps a headroom for them, which `control` entries may also use.
 */
export interface WalSpace {
  /** Room for `bytes` more log bytes (`control`: a config or StartWorking entry, which may use the headroom)? */
  reserve(bytes: number, control: boolean): boolean;
  /** Gives back log bytes reserved for entries that will never be persisted (a dropped open group entry). */
  release(bytes: number): void;
}

/** What the leader reserves for one append: the entry, and the group entry's header if it opens one. */
export function appendBytes(r: Replica, payloadBytes: number, session: boolean): number {
  return encodedEntrySize(payloadBytes, session) + (r.open ? 0 : GROUP_HEADER_BYTES);
}

/** Reserves room for a config or StartWorking entry carrying `config` (a group entry of its own). */
export function reserveControl(r: Replica, config: MemberConfig): boolean {
  if (r.walSpace === undefined) return true;
  return r.walSpace.reserve(GROUP_HEADER_BYTES + encodedEntrySize(encodeConfig(config).length, false), true);
}

/**
 * Where the contiguous `entries` stop matching what this replica holds (same pid, same end), or undefined if
 * it holds them all. The accept loops of pushes and fetch replies take every entry from there on, so their
 * log bytes are `last end - this`.
 */
export function newEntriesFrom(r: Replica, entries: readonly GroupEntry[]): Lsn | undefined {
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
export function reserveEntries(r: Replica, entries: readonly GroupEntry[], from: Lsn): Lsn {
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
export function unpersistedBytes(r: Replica): number {
  return r.open ? r.open.nextLsn - r.open.lsn : 0;
}
