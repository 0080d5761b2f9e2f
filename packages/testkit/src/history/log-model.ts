import { type Model, mix32 } from "./linearization-search.ts";

/**
 * The sequential specification of one group's log, as its clients see it. Payloads are small integer ids
 * (one per appended payload; bytes nobody appended get ids no append has).
 *
 * An append takes effect when it commits; commits go in LSN order and a new entry lands at or above the
 * committed end, internal entries (StartWorking, config changes) may fill the gap. A linearizable read
 * returns exactly the data entries in [fromLsn, next) and a committed end at or above every committed
 * entry; whatever it saw as committed, later appends land above.
 */
export type LogInput =
  /** `retried`: other attempts share the session, so the leader may recognise it as a duplicate. */
  | { readonly type: "append"; readonly payloadId: number; readonly retried: boolean }
  | { readonly type: "read"; readonly fromLsn: number };

export type LogOutput =
  | { readonly lsn: number }
  | {
      readonly entries: readonly { readonly lsn: number; readonly payloadId: number }[];
      readonly committedEnd: number;
      readonly next: number;
    };

/** One committed data entry; entries form an immutable list, newest first, shared between states. */
interface LogNode {
  readonly lsn: number;
  readonly payloadId: number;
  readonly previous: LogNode | undefined;
}

export interface LogState {
  readonly newest: LogNode | undefined;
  readonly size: number;
  /** Lower bound of the committed end: above every entry and every committed end a read reported. */
  readonly end: number;
  /** Rolling hash of the entries, so states compare in O(1) in the common case. */
  readonly entriesHash: number;
}

export const logModel: Model<LogState, LogInput, LogOutput> = {
  init: () => ({ newest: undefined, size: 0, end: 0, entriesHash: 0 }),

  step(state, input, output) {
    if (input.type === "append") {
      if (!("lsn" in output)) return undefined;
      // A retry the leader recognised changes nothing; the same session at a second LSN is a double commit.
      if (input.retried) {
        const existing = findPayload(state.newest, input.payloadId);
        if (existing !== undefined) return existing.lsn === output.lsn ? state : undefined;
      }
      if (output.lsn < state.end) return undefined;
      return {
        newest: { lsn: output.lsn, payloadId: input.payloadId, previous: state.newest },
        size: state.size + 1,
        end: output.lsn + 1,
        entriesHash: mix32(Math.imul(state.entriesHash, 0x01000193) ^ mix32(output.lsn ^ input.payloadId)),
      };
    }
    if (!("entries" in output) || output.committedEnd < state.end) return undefined;
    const { entries, next } = output;
    let k = entries.length - 1;
    for (let node = state.newest; node !== undefined && node.lsn >= input.fromLsn; node = node.previous) {
      if (node.lsn >= next) continue;
      const e = entries[k--];
      if (e === undefined || e.lsn !== node.lsn || e.payloadId !== node.payloadId) return undefined;
    }
    if (k !== -1) return undefined;
    return output.committedEnd > state.end ? { ...state, end: output.committedEnd } : state;
  },

  hash: (s) => mix32(s.entriesHash ^ mix32(s.end)),

  // A read that moves no end, or a recognised retry, changes nothing in any later state either: ends only
  // grow and entries are never removed.
  stutterIsStable: true,

  equal(a, b) {
    if (a.end !== b.end || a.size !== b.size || a.entriesHash !== b.entriesHash) return false;
    let x = a.newest;
    let y = b.newest;
    // Lists share their tails, so the walk usually stops at the first common node.
    while (x !== y) {
      if (x === undefined || y === undefined || x.lsn !== y.lsn || x.payloadId !== y.payloadId) return false;
      x = x.previous;
      y = y.previous;
    }
    return true;
  },
};

function findPayload(newest: LogNode | undefined, payloadId: number): LogNode | undefined {
  for (let node = newest; node !== undefined; node = node.previous)
    if (node.payloadId === payloadId) return node;
  return undefined;
}

/** The model state in words, for violation reports. */
export function describeLogState(s: LogState): string {
  if (s.newest === undefined) return `no data entries, committed end at least ${s.end}`;
  return `${s.size} data entries, the last at lsn ${s.newest.lsn}, committed end at least ${s.end}`;
}
