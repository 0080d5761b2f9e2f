/**
 * Test helpers (not exported from the package): a seeded PRNG, deterministic payloads, temp
 * dirs, and a reference model of the WAL's logical state that tests compare the WAL with.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ShardWal } from "./shard-wal.ts";
import type { WalRecord } from "./types.ts";

/** mulberry32: small, fast, good enough to drive tests; same seed, same run. */
export function prng(seed: number): { next(): number; int(n: number): number; chance(p: number): boolean } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n) => Math.floor(next() * n), chance: (p) => next() < p };
}

/** Deterministic payload for (group, lsn, pid, salt): the parent of a crash test re-derives it. */
export function payloadFor(
  group: number,
  lsn: number,
  pid: number,
  salt: number,
  length: number,
): Uint8Array {
  const r = prng((group * 2654435761) ^ (lsn * 40503) ^ (pid * 9973) ^ (salt * 7919));
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = r.int(256);
  return out;
}

export function tempDir(prefix = "palf-storage-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

interface ModelEntry {
  lsn: number;
  end: number;
  pid: number;
  bytes: Uint8Array;
}

interface ModelGroup {
  entries: ModelEntry[];
  meta?: Uint8Array;
  base?: { lsn: number; bytes: Uint8Array };
}

/** The logical state a WAL must hold after a sequence of records, written the obvious way. */
export class WalModel {
  readonly groups = new Map<number, ModelGroup>();

  apply(r: WalRecord): void {
    switch (r.kind) {
      case "entry":
        this.group(r.group).entries.push({ lsn: r.lsn, end: r.end, pid: r.pid, bytes: r.bytes.slice() });
        return;
      case "truncate": {
        const g = this.groups.get(r.group);
        if (g) g.entries = g.entries.filter((e) => e.lsn < r.lsn);
        return;
      }
      case "meta":
        this.group(r.group).meta = r.bytes.slice();
        return;
      case "base": {
        const g = this.group(r.group);
        g.base = { lsn: r.lsn, bytes: r.bytes.slice() };
        g.entries = r.reset === true ? [] : g.entries.filter((e) => e.end > r.lsn);
        return;
      }
      case "drop-group":
        this.groups.delete(r.group);
    }
  }

  clone(): WalModel {
    const m = new WalModel();
    for (const [id, g] of this.groups) {
      const copy: ModelGroup = { entries: [...g.entries] };
      if (g.meta) copy.meta = g.meta;
      if (g.base) copy.base = g.base;
      m.groups.set(id, copy);
    }
    return m;
  }

  private group(id: number): ModelGroup {
    let g = this.groups.get(id);
    if (!g) {
      g = { entries: [] };
      this.groups.set(id, g);
    }
    return g;
  }
}

/**
 * Differences between the WAL and the model ("" if none). Groups that hold nothing (no entry,
 * meta or base) count as absent: recycling may forget such a group, which is harmless.
 */
export function diffWal(wal: ShardWal, model: WalModel): string {
  const problems: string[] = [];
  const ids = new Set<number>([...wal.groups(), ...model.groups.keys()]);
  for (const id of [...ids].sort((a, b) => a - b)) {
    const s = wal.groupState(id);
    const m = model.groups.get(id);
    const sEmpty = !s || (s.entries.length === 0 && !s.meta && !s.base);
    const mEmpty = !m || (m.entries.length === 0 && !m.meta && !m.base);
    if (sEmpty && mEmpty) continue;
    if (!s || !m) {
      problems.push(`group ${id}: ${s ? "in WAL" : "missing from WAL"}, ${m ? "in model" : "not in model"}`);
      continue;
    }
    if (!sameBytes(s.meta, m.meta)) problems.push(`group ${id}: meta differs`);
    if ((s.base?.lsn ?? -1) !== (m.base?.lsn ?? -1) || !sameBytes(s.base?.bytes, m.base?.bytes)) {
      problems.push(`group ${id}: base ${s.base?.lsn} vs model ${m.base?.lsn}`);
    }
    const got = s.entries.map((e) => `${e.lsn}-${e.end}@${e.pid}`).join(",");
    const want = m.entries.map((e) => `${e.lsn}-${e.end}@${e.pid}`).join(",");
    if (got !== want) {
      problems.push(`group ${id}: entries\n  wal   ${got}\n  model ${want}`);
      continue;
    }
    for (const e of m.entries) {
      if (!sameBytes(wal.readEntry(id, e.lsn), e.bytes))
        problems.push(`group ${id}: bytes of entry ${e.lsn} differ`);
    }
  }
  return problems.join("\n");
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return (
    Buffer.compare(
      Buffer.from(a.buffer, a.byteOffset, a.byteLength),
      Buffer.from(b.buffer, b.byteOffset, b.byteLength),
    ) === 0
  );
}

/**
 * A record described by numbers only, so a crash-test child can announce it in one line and
 * the parent can rebuild it byte for byte: [kind, group, lsn, end, pid, salt, length]. A base
 * with end 1 is a reset base.
 */
export type RecordSpec = [
  kind: number,
  group: number,
  lsn: number,
  end: number,
  pid: number,
  salt: number,
  length: number,
];

const KINDS = ["entry", "truncate", "meta", "base", "drop-group"] as const;

export function specToRecord(s: RecordSpec): WalRecord {
  const [kind, group, lsn, end, pid, salt, length] = s;
  switch (KINDS[kind]) {
    case "entry":
      return { kind: "entry", group, lsn, end, pid, bytes: payloadFor(group, lsn, pid, salt, length) };
    case "truncate":
      return { kind: "truncate", group, lsn };
    case "meta":
      return { kind: "meta", group, bytes: payloadFor(group, 0, 0, salt, length) };
    case "base": {
      const bytes = payloadFor(group, lsn, 0, salt, length);
      return end === 1
        ? { kind: "base", group, lsn, bytes, reset: true }
        : { kind: "base", group, lsn, bytes };
    }
    default:
      return { kind: "drop-group", group };
  }
}

/** A random valid next record for the WAL's current state (which includes queued records). */
export function randomSpec(
  r: ReturnType<typeof prng>,
  wal: ShardWal,
  groups: number,
  salt: number,
  maxEntryBytes: number,
): RecordSpec {
  const group = r.int(groups);
  const st = wal.groupState(group);
  const entries = st?.entries ?? [];
  const roll = r.next();
  if (roll < 0.72 || entries.length === 0) {
    const lsn = st?.end ?? r.int(4) * 1000;
    const length = r.chance(0.05) ? 1 + r.int(maxEntryBytes) : 1 + r.int(Math.min(300, maxEntryBytes));
    return [0, group, lsn, lsn + length, 1 + r.int(4), salt, length];
  }
  if (roll < 0.8) {
    // Truncating below the base is refused; pick an entry at or above it.
    const above = entries.filter((e) => e.lsn >= (st?.base?.lsn ?? 0));
    if (above.length > 0) return [1, group, above[r.int(above.length)]!.lsn, 0, 0, salt, 0];
    return [2, group, 0, 0, 0, salt, 1 + r.int(40)];
  }
  if (roll < 0.88) return [2, group, 0, 0, 0, salt, 1 + r.int(40)];
  if (roll < 0.995) {
    // A rebuild (reset base) restarts the log at another replica's base: past its end, or inside
    // it, mid-entry, when its tail conflicts with the log it rebuilds from.
    const rebuild = r.chance(0.05);
    const inside = entries[r.int(entries.length)]!.lsn;
    const lsn = rebuild ? (r.chance(0.5) ? (st?.end ?? 0) + 1000 : inside + 1) : inside;
    if (st?.base !== undefined && lsn < st.base.lsn) return [2, group, 0, 0, 0, salt, 1 + r.int(40)];
    return [3, group, lsn, rebuild ? 1 : 0, 0, salt, 1 + r.int(24)];
  }
  return [4, group, 0, 0, 0, salt, 0];
}
