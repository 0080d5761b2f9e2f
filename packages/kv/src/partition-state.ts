import { Packr } from "msgpackr";
import type { KvValue } from "./kv-limits.ts";
import { decodeRecord, type KvWrite, type PrepareRecord } from "./kv-record.ts";
import { kvUnsafeOn } from "./kv-unsafe.ts";

/** A committed entry of a partition's log, as the state machine sees it. */
export interface PartitionEntry {
  readonly lsn: number;
  readonly csn: number;
  readonly payload: Uint8Array;
}

/** One committed version of a key: the value (null: deleted) the transaction committed at `version`. */
export interface KeyVersion {
  readonly version: number;
  readonly value: KvValue | null;
}

export type TxnState = "prepared" | "committed" | "aborted";

/** What a partition knows of one transaction. */
export interface TxnView {
  readonly txnId: string;
  readonly state: TxnState;
  /** Its prepare version here; undefined when no prepare of it was applied here (a decision came first). */
  readonly prepareVersion: number | undefined;
  readonly snapshot: number | undefined;
  readonly primary: number | undefined;
  readonly participants: readonly number[] | undefined;
  readonly commitVersion: number | undefined;
  /** Why it aborted here, when it did: conflict, expired, stale, decided (a prepare after the decision). */
  readonly reason: string | undefined;
  /** CSN of the record that settled it here (or that prepared it, while undecided). */
  readonly at: number;
}

interface Txn {
  state: TxnState;
  prepareVersion: number | undefined;
  snapshot: number | undefined;
  primary: number | undefined;
  participants: readonly number[] | undefined;
  writes: readonly KvWrite[] | undefined;
  commitVersion: number | undefined;
  reason: string | undefined;
  at: number;
}

/** What applying one entry did: every decision a server makes is one of these, in log order. */
export type ApplyOutcome =
  | { readonly kind: "prepared"; readonly txnId: string; readonly prepareVersion: number }
  | {
      readonly kind: "refused";
      readonly txnId: string;
      readonly reason: "conflict" | "expired" | "stale" | "decided";
      readonly key?: string;
    }
  | { readonly kind: "committed"; readonly txnId: string; readonly commitVersion: number }
  | { readonly kind: "aborted"; readonly txnId: string }
  | { readonly kind: "ignored"; readonly txnId: string; readonly reason: string }
  | { readonly kind: "fence" }
  | { readonly kind: "malformed"; readonly error: string };

/** A read at a snapshot: the value, a lock that must be resolved first, or a snapshot older than history kept. */
export type ReadResult =
  | { readonly kind: "value"; readonly value: KvValue | null; readonly version: number }
  | {
      readonly kind: "locked";
      readonly txnId: string;
      readonly prepareVersion: number;
      readonly primary: number;
    }
  | { readonly kind: "tooOld"; readonly horizon: number };

export interface PartitionStateOptions {
  /**
   * How far (microseconds of CSN) a prepare may lie past its snapshot. Older prepares are refused, which
   * lets decided transactions and old versions be forgotten after this long. It is part of the log's
   * meaning: every server replaying a partition must use the same value.
   */
  readonly maxTxnAgeUs?: number;
  /** Forget what maxTxnAgeUs allows every this many entries (also part of the log's meaning). */
  readonly pruneEvery?: number;
}

export const DEFAULT_MAX_TXN_AGE_US = 60_000_000;
const DEFAULT_PRUNE_EVERY = 4096;

const packr = new Packr({ useRecords: false, moreTypes: false });
const CHECKPOINT_VERSION = 1;

/**
 * The MVCC state of one partition, a pure function of its log: committed versions per key, locks (writes of
 * prepared, undecided transactions) and what it knows of each transaction. Every decision (a prepare refused
 * for a conflict, the first decision of a transaction) is made here, when an entry is applied in log order,
 * so every server that replays the log reaches the same state and the same decisions. No clock, no I/O.
 */
export class PartitionState {
  /** LSN of the next entry to apply (everything below is applied). */
  next = 0;
  /** CSN of the last entry applied. */
  csn = 0;
  /** Entries applied since the last prune. */
  private sincePrune = 0;
  /** Reads below this snapshot are refused: versions they would need may be gone. */
  horizon = 0;
  private readonly versions = new Map<string, KeyVersion[]>();
  private readonly locks = new Map<string, string>();
  private readonly txns = new Map<string, Txn>();
  readonly maxTxnAgeUs: number;
  readonly pruneEvery: number;
  /** Counters (not part of the state's meaning). */
  readonly stats = { applied: 0, malformed: 0, refused: 0 };

  constructor(
    readonly partition: number,
    o: PartitionStateOptions = {},
  ) {
    this.maxTxnAgeUs = o.maxTxnAgeUs ?? DEFAULT_MAX_TXN_AGE_US;
    this.pruneEvery = o.pruneEvery ?? DEFAULT_PRUNE_EVERY;
  }

  /** Applies the next committed entry. Entries must come in LSN order; an entry below `next` is skipped. */
  apply(e: PartitionEntry): ApplyOutcome | undefined {
    if (e.lsn < this.next) return undefined;
    this.next = e.lsn + 1;
    if (e.csn > this.csn) this.csn = e.csn;
    this.stats.applied++;
    const out = this.decide(e);
    if (out.kind === "malformed") this.stats.malformed++;
    if (out.kind === "refused") this.stats.refused++;
    if (++this.sincePrune >= this.pruneEvery) {
      this.sincePrune = 0;
      this.prune();
    }
    return out;
  }

  private decide(e: PartitionEntry): ApplyOutcome {
    const d = decodeRecord(e.payload);
    if (!d.ok) return { kind: "malformed", error: `partition ${this.partition} lsn ${e.lsn}: ${d.error}` };
    const r = d.record;
    if (r.type === "fence") return { kind: "fence" };
    if (r.type === "prepare") return this.prepare(r, e.csn);
    const t = this.txns.get(r.txnId);
    if (r.type === "abort") {
      if (t === undefined) {
        // A decision before any prepare here: remembered, so a late prepare of it is refused.
        this.txns.set(r.txnId, tombstone("aborted", e.csn));
        return { kind: "aborted", txnId: r.txnId };
      }
      if (t.state !== "prepared" && !kvUnsafeOn("laterDecisionWins"))
        return { kind: "ignored", txnId: r.txnId, reason: `already ${t.state}` };
      this.release(r.txnId, t);
      t.state = "aborted";
      t.reason = "decided";
      t.at = e.csn;
      return { kind: "aborted", txnId: r.txnId };
    }
    // commit
    if (t === undefined) {
      // Never prepared here: a commit cannot have been decided legally; refuse to invent writes.
      return { kind: "ignored", txnId: r.txnId, reason: "commit of a transaction never prepared here" };
    }
    if (t.state !== "prepared" && !kvUnsafeOn("laterDecisionWins"))
      return { kind: "ignored", txnId: r.txnId, reason: `already ${t.state}` };
    if (t.prepareVersion !== undefined && r.commitVersion < t.prepareVersion)
      return {
        kind: "ignored",
        txnId: r.txnId,
        reason: `commit version ${r.commitVersion} is below the prepare version ${t.prepareVersion}`,
      };
    this.commit(r.txnId, t, r.commitVersion, e.csn);
    return { kind: "committed", txnId: r.txnId, commitVersion: r.commitVersion };
  }

  private prepare(r: PrepareRecord, csn: number): ApplyOutcome {
    const known = this.txns.get(r.txnId);
    if (known !== undefined) {
      // A retried append of the same prepare, or a prepare after the transaction was decided.
      if (known.prepareVersion !== undefined)
        return { kind: "ignored", txnId: r.txnId, reason: "duplicate prepare" };
      return this.refuse(r, csn, "decided", known);
    }
    if (!r.participants.includes(this.partition))
      return { kind: "ignored", txnId: r.txnId, reason: `partition ${this.partition} is not a participant` };
    if (csn <= r.snapshot) return this.refuse(r, csn, "stale");
    if (csn - r.snapshot > this.maxTxnAgeUs) return this.refuse(r, csn, "expired");
    for (const w of r.writes) {
      const holder = this.locks.get(w.key);
      if (holder !== undefined) return this.refuse(r, csn, "conflict", undefined, w.key);
      const vs = this.versions.get(w.key);
      const last = vs?.[vs.length - 1];
      // First writer wins: someone committed this key after our snapshot.
      if (last !== undefined && last.version > r.snapshot)
        return this.refuse(r, csn, "conflict", undefined, w.key);
    }
    const t: Txn = {
      state: "prepared",
      prepareVersion: csn,
      snapshot: r.snapshot,
      primary: r.primary,
      participants: r.participants,
      writes: r.writes,
      commitVersion: undefined,
      reason: undefined,
      at: csn,
    };
    this.txns.set(r.txnId, t);
    for (const w of r.writes) this.locks.set(w.key, r.txnId);
    // One participant: the prepare is the decision (one-phase commit, one append), at its own version.
    if (r.participants.length === 1) {
      this.commit(r.txnId, t, csn, csn);
      return { kind: "committed", txnId: r.txnId, commitVersion: csn };
    }
    return { kind: "prepared", txnId: r.txnId, prepareVersion: csn };
  }

  private refuse(
    r: PrepareRecord,
    csn: number,
    reason: "conflict" | "expired" | "stale" | "decided",
    known?: Txn,
    key?: string,
  ): ApplyOutcome {
    if (known === undefined) {
      // Refused here means aborted: on the primary this is the transaction's decision.
      this.txns.set(r.txnId, {
        ...tombstone("aborted", csn),
        snapshot: r.snapshot,
        primary: r.primary,
        participants: r.participants,
        reason,
      });
    }
    return key === undefined
      ? { kind: "refused", txnId: r.txnId, reason }
      : { kind: "refused", txnId: r.txnId, reason, key };
  }

  private commit(txnId: string, t: Txn, commitVersion: number, csn: number): void {
    for (const w of t.writes ?? []) {
      let vs = this.versions.get(w.key);
      if (vs === undefined) {
        vs = [];
        this.versions.set(w.key, vs);
      }
      insertVersion(vs, { version: commitVersion, value: w.value });
    }
    this.release(txnId, t);
    t.state = "committed";
    t.commitVersion = commitVersion;
    t.at = csn;
  }

  private release(txnId: string, t: Txn): void {
    for (const w of t.writes ?? []) if (this.locks.get(w.key) === txnId) this.locks.delete(w.key);
    // Decided: the writes live on in `versions` (commit) or nowhere (abort).
    t.writes = undefined;
  }

  /**
   * Forgets what no legal record can need any more: decided transactions and versions older than
   * maxTxnAgeUs below the last CSN (a prepare that old is refused as expired, so no late prepare can hit a
   * forgotten abort, and no transaction can read at a snapshot that old).
   */
  private prune(): void {
    const horizon = this.csn - this.maxTxnAgeUs;
    if (horizon <= this.horizon) return;
    this.horizon = horizon;
    for (const [id, t] of this.txns) if (t.state !== "prepared" && t.at < horizon) this.txns.delete(id);
    for (const [key, vs] of this.versions) {
      let keep = 0;
      for (let i = vs.length - 1; i >= 0; i--)
        if (vs[i]!.version <= horizon) {
          keep = i;
          break;
        }
      if (keep > 0) vs.splice(0, keep);
      if (vs.length === 1 && vs[0]!.value === null && vs[0]!.version <= horizon) this.versions.delete(key);
    }
  }

  /** The value of `key` at `snapshot`, or the lock in the way (prepare version <= snapshot), or tooOld. */
  read(key: string, snapshot: number): ReadResult {
    if (snapshot < this.horizon) return { kind: "tooOld", horizon: this.horizon };
    const holder = this.locks.get(key);
    if (holder !== undefined && !kvUnsafeOn("readSkipsLocks")) {
      const t = this.txns.get(holder)!;
      // A lock prepared above the snapshot is invisible: its commit version will be larger still.
      if (t.prepareVersion! <= snapshot)
        return { kind: "locked", txnId: holder, prepareVersion: t.prepareVersion!, primary: t.primary! };
    }
    const vs = this.versions.get(key);
    if (vs !== undefined)
      for (let i = vs.length - 1; i >= 0; i--) {
        const v = vs[i]!;
        if (v.version <= snapshot) return { kind: "value", value: v.value, version: v.version };
      }
    return { kind: "value", value: null, version: 0 };
  }

  /** Keys in [start, end) (end undefined: no bound), sorted, with at most `limit` of them. */
  keysIn(start: string, end: string | undefined, limit = Number.POSITIVE_INFINITY): string[] {
    const out: string[] = [];
    for (const k of this.versions.keys()) if (k >= start && (end === undefined || k < end)) out.push(k);
    for (const k of this.locks.keys())
      if (!this.versions.has(k) && k >= start && (end === undefined || k < end)) out.push(k);
    out.sort(compareKeys);
    return out.length > limit ? out.slice(0, limit) : out;
  }

  /** What this partition knows of a transaction, if anything. */
  txn(txnId: string): TxnView | undefined {
    const t = this.txns.get(txnId);
    if (t === undefined) return undefined;
    return {
      txnId,
      state: t.state,
      prepareVersion: t.prepareVersion,
      snapshot: t.snapshot,
      primary: t.primary,
      participants: t.participants,
      commitVersion: t.commitVersion,
      reason: t.reason,
      at: t.at,
    };
  }

  /** Prepared, undecided transactions (their locks), in no particular order. */
  *undecided(): Generator<TxnView> {
    for (const [id, t] of this.txns) if (t.state === "prepared") yield this.txn(id)!;
  }

  /** The writes a prepared transaction holds here (for roll-forward and CDC). */
  writesOf(txnId: string): readonly KvWrite[] | undefined {
    return this.txns.get(txnId)?.writes;
  }

  get lockCount(): number {
    return this.locks.size;
  }

  get keyCount(): number {
    return this.versions.size;
  }

  /** The whole state at `next`, serialized (key order sorted, so equal states give equal bytes). */
  checkpoint(): Uint8Array {
    const versions = [...this.versions.entries()]
      .sort((a, b) => compareKeys(a[0], b[0]))
      .map(([k, vs]) => [k, vs.map((v) => [v.version, v.value])]);
    const txns = [...this.txns.entries()]
      .sort((a, b) => compareKeys(a[0], b[0]))
      .map(([id, t]) => [
        id,
        t.state,
        t.prepareVersion ?? null,
        t.snapshot ?? null,
        t.primary ?? null,
        t.participants ?? null,
        t.writes === undefined ? null : t.writes.map((w) => [w.key, w.value]),
        t.commitVersion ?? null,
        t.reason ?? null,
        t.at,
      ]);
    return packr.pack([
      CHECKPOINT_VERSION,
      this.partition,
      this.next,
      this.csn,
      this.sincePrune,
      this.horizon,
      this.maxTxnAgeUs,
      this.pruneEvery,
      versions,
      txns,
    ]);
  }

  /** Restores a checkpoint taken by checkpoint(); throws on anything else (a checkpoint is ours, not input). */
  static restore(bytes: Uint8Array): PartitionState {
    const a = packr.unpack(bytes) as unknown[];
    if (!Array.isArray(a) || a[0] !== CHECKPOINT_VERSION || a.length !== 10)
      throw new Error("not a partition checkpoint of version 1");
    const [, partition, next, csn, sincePrune, horizon, maxTxnAgeUs, pruneEvery, versions, txns] = a as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      Array<[string, Array<[number, KvValue | null]>]>,
      Array<
        [
          string,
          TxnState,
          number | null,
          number | null,
          number | null,
          number[] | null,
          Array<[string, KvValue | null]> | null,
          number | null,
          string | null,
          number,
        ]
      >,
    ];
    const s = new PartitionState(partition, { maxTxnAgeUs, pruneEvery });
    s.next = next;
    s.csn = csn;
    s.sincePrune = sincePrune;
    s.horizon = horizon;
    for (const [k, vs] of versions)
      s.versions.set(
        k,
        vs.map(([version, value]) => ({ version, value: copyValue(value) })),
      );
    for (const [id, state, pv, snap, primary, parts, writes, cv, reason, at] of txns) {
      const t: Txn = {
        state,
        prepareVersion: pv ?? undefined,
        snapshot: snap ?? undefined,
        primary: primary ?? undefined,
        participants: parts ?? undefined,
        writes:
          writes === null ? undefined : writes.map(([key, value]) => ({ key, value: copyValue(value) })),
        commitVersion: cv ?? undefined,
        reason: reason ?? undefined,
        at,
      };
      s.txns.set(id, t);
      if (state === "prepared" && !kvUnsafeOn("recoveryDropsLocks"))
        for (const w of t.writes ?? []) s.locks.set(w.key, id);
    }
    return s;
  }
}

function tombstone(state: TxnState, at: number): Txn {
  return {
    state,
    prepareVersion: undefined,
    snapshot: undefined,
    primary: undefined,
    participants: undefined,
    writes: undefined,
    commitVersion: undefined,
    reason: undefined,
    at,
  };
}

function copyValue(v: KvValue | null): KvValue | null {
  return v instanceof Uint8Array ? Uint8Array.from(v) : v;
}

/** Versions of a key stay sorted by version (commit records normally arrive in version order). */
function insertVersion(vs: KeyVersion[], v: KeyVersion): void {
  let i = vs.length;
  while (i > 0 && vs[i - 1]!.version > v.version) i--;
  vs.splice(i, 0, v);
}

/** Keys compare by UTF-16 code units (the order scans return). */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
