import type {
  BaseInfo,
  DurableImage,
  DurableMeta,
  GroupEntry,
  MemberConfig,
  PersistRecord,
} from "@palf/core";
import { decodeConfig, encodeConfig, groupEntryProblem } from "@palf/core";
import type { ShardWal, WalRecord } from "@palf/storage";

/**
 * How a replica's durable records become WAL records and back. The WAL stores opaque bytes; this file is
 * the one place that knows their layout, so recovery rebuilds exactly the image the core asked to persist.
 */

const ENTRY_HEADER = 56;

/** Group entry: fixed header (pid, lsn, end, count, maxCsn, flags, checksum, accum, committedEnd) + body. */
export function encodeGroupEntry(ge: GroupEntry): Uint8Array {
  const out = Buffer.allocUnsafe(ENTRY_HEADER + ge.body.length);
  out.writeDoubleLE(ge.pid, 0);
  out.writeDoubleLE(ge.lsn, 8);
  out.writeDoubleLE(ge.end, 16);
  out.writeUInt32LE(ge.count, 24);
  out.writeUInt32LE(ge.flags, 28);
  out.writeDoubleLE(ge.maxCsn, 32);
  out.writeUInt32LE(ge.checksum, 40);
  out.writeUInt32LE(ge.accum, 44);
  out.writeDoubleLE(ge.committedEnd, 48);
  out.set(ge.body, ENTRY_HEADER);
  return out;
}

export function decodeGroupEntry(bytes: Uint8Array): GroupEntry {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < ENTRY_HEADER)
    throw new Error(`stored group entry of ${b.length} bytes is shorter than its header`);
  const ge: GroupEntry = {
    pid: b.readDoubleLE(0),
    lsn: b.readDoubleLE(8),
    end: b.readDoubleLE(16),
    count: b.readUInt32LE(24),
    // In groupEntryOf's field order (one hidden class for every group entry), not the stored order.
    maxCsn: b.readDoubleLE(32),
    flags: b.readUInt32LE(28),
    checksum: b.readUInt32LE(40),
    accum: b.readUInt32LE(44),
    committedEnd: b.readDoubleLE(48),
    body: Buffer.from(b.subarray(ENTRY_HEADER)),
  };
  const problem = groupEntryProblem(ge, undefined);
  if (problem) throw new Error(`stored group entry at ${ge.lsn}: ${problem}`);
  return ge;
}

export function encodeMeta(meta: DurableMeta): Uint8Array {
  const out = Buffer.allocUnsafe(16);
  out.writeDoubleLE(meta.promisedPid, 0);
  out.writeDoubleLE(meta.highestBallot, 8);
  return out;
}

export function decodeMeta(bytes: Uint8Array): DurableMeta {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return { promisedPid: b.readDoubleLE(0), highestBallot: b.readDoubleLE(8) };
}

/** Base records also carry the group's incarnation, so a recreated group never mixes with its predecessor. */
export function encodeBase(base: BaseInfo, inc: number): Uint8Array {
  const head = Buffer.allocUnsafe(40);
  head.writeDoubleLE(base.lsn, 0);
  head.writeDoubleLE(base.pid, 8);
  head.writeDoubleLE(base.accum, 16);
  head.writeDoubleLE(base.csn, 24);
  head.writeDoubleLE(inc, 32);
  return Buffer.concat([head, encodeConfig(base.config)]);
}

export function decodeBase(bytes: Uint8Array): { base: BaseInfo; inc: number } {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const config: MemberConfig = decodeConfig(b.subarray(40));
  return {
    base: {
      lsn: b.readDoubleLE(0),
      pid: b.readDoubleLE(8),
      accum: b.readDoubleLE(16),
      csn: b.readDoubleLE(24),
      config,
    },
    inc: b.readDoubleLE(32),
  };
}

/** One core persist request as a WAL record. */
export function toWalRecord(group: number, record: PersistRecord, inc: number): WalRecord {
  switch (record.kind) {
    case "entry": {
      const e = record.entry;
      return { kind: "entry", group, lsn: e.lsn, end: e.end, pid: e.pid, bytes: encodeGroupEntry(e) };
    }
    case "truncate":
      return { kind: "truncate", group, lsn: record.lsn };
    case "meta":
      return { kind: "meta", group, bytes: encodeMeta(record.meta) };
    case "base":
      // `reset` (a rebuild replaces the whole log) makes the WAL drop the old entries above the base too.
      return {
        kind: "base",
        group,
        lsn: record.base.lsn,
        bytes: encodeBase(record.base, inc),
        reset: record.reset,
      };
  }
}

/** What recovery found for one group: its durable image and incarnation. */
export interface RecoveredGroup {
  readonly group: number;
  readonly inc: number;
  readonly image: DurableImage;
}

/** Rebuilds every group of a shard WAL; a group without a base record was never properly created. */
export function recoverGroups(wal: ShardWal): RecoveredGroup[] {
  const out: RecoveredGroup[] = [];
  for (const group of wal.groups()) {
    const state = wal.groupState(group);
    if (!state?.base) continue;
    const { base, inc } = decodeBase(state.base.bytes);
    const meta = state.meta ? decodeMeta(state.meta) : { promisedPid: 0, highestBallot: 0 };
    const entries: GroupEntry[] = [];
    for (const stored of wal.entries(group, base.lsn)) {
      if (stored.lsn < base.lsn) continue;
      entries.push(decodeGroupEntry(stored.bytes));
    }
    out.push({ group, inc, image: { meta, base, entries } });
  }
  return out;
}
