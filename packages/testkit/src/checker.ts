import {
  type ConfigVersion,
  compareVersion,
  decodeConfig,
  EntryKind,
  entriesOf,
  type GroupEntry,
  type GroupEntryResult,
  type GroupId,
  type Lsn,
  type MemberConfig,
  type Pid,
  type Replica,
  type ReplicaEvent,
  type ReplicaId,
} from "@palf/core";

interface CommittedEntry {
  readonly pid: Pid;
  readonly end: Lsn;
  readonly accum: number;
  readonly firstCsn: number;
  readonly maxCsn: number;
  readonly body: Uint8Array;
  readonly lsn: Lsn;
}

/** One client append as the simulator saw it. */
export interface AppendRecord {
  readonly id: number;
  readonly group: GroupId;
  readonly node: ReplicaId;
  readonly pid: Pid;
  readonly lsn: Lsn;
  readonly csn: number;
  readonly payload: Uint8Array;
  result: GroupEntryResult["outcome"] | undefined;
  /** Its node crashed before the result: no result is owed. */
  lost: boolean;
}

/**
 * Safety checkers run on every simulated step: election safety, leader append-only, log matching, leader
 * completeness, state machine safety, exactly one result per append (committed => in the committed log,
 * failed => never committed), CSN strictly increasing with LSN, no committed entry truncated, a client
 * session's (id, seq) committed at most once, committed configs only move forward, and (fed by the
 * simulator, which knows true time) at most one valid lease per group at any instant.
 */
export class Checker {
  readonly violations: string[] = [];
  private readonly leaders = new Map<string, ReplicaId>();
  private readonly committed = new Map<GroupId, Map<Lsn, CommittedEntry>>();
  private readonly committedByEnd = new Map<GroupId, Map<Lsn, CommittedEntry>>();
  private readonly checkedUpTo = new Map<string, Lsn>();
  private readonly appends: AppendRecord[] = [];
  private readonly unresolved = new Map<string, AppendRecord[]>();
  private readonly resultRanges = new Set<string>();
  /** "group/session/seq" -> LSN of the committed entry that carries it. */
  private readonly sessionSeqs = new Map<string, Lsn>();
  private readonly leaseOverlaps = new Set<string>();
  /** Per group: the committed config and StartWorking entries, by LSN (ascending). */
  private readonly committedConfigs = new Map<GroupId, { lsn: Lsn; config: MemberConfig }[]>();
  elections = 0;
  rejected = 0;
  indeterminate = 0;

  /** Sees every violation as it is found (a simulator that keeps its own list, with times). */
  onViolation: ((what: string) => void) | undefined;

  constructor(private readonly replicaOf: (node: ReplicaId, group: GroupId) => Replica | undefined) {}

  fail(what: string): void {
    if (this.violations.length >= 50) return;
    this.violations.push(what);
    this.onViolation?.(what);
  }

  onEvent(node: ReplicaId, e: ReplicaEvent): void {
    switch (e.type) {
      case "role":
        if (e.role === "leader") this.onLeader(node, e.group, e.pid);
        break;
      case "halted":
        this.fail(`${node} halted group ${e.group}: ${e.reason}`);
        break;
      case "truncated": {
        if (e.role === "leader") this.fail(`leader ${node} truncated group ${e.group} at ${e.lsn}`);
        const committed = this.checkedUpTo.get(`${node}/${e.group}`) ?? 0;
        if (e.lsn < committed)
          this.fail(`${node} truncated group ${e.group} at ${e.lsn}, below its committed end ${committed}`);
        break;
      }
      case "committed":
        this.onCommitted(node, e.group, e.committedEnd);
        break;
      case "rejected":
        this.rejected++;
        break;
      case "removed":
        this.checkRemoved(node, e.group, e.version);
        break;
      default:
        break;
    }
  }

  private onLeader(node: ReplicaId, group: GroupId, pid: Pid): void {
    this.elections++;
    const key = `${group}/${pid}`;
    const prev = this.leaders.get(key);
    if (prev !== undefined && prev !== node)
      this.fail(`election safety: ${prev} and ${node} both led group ${group} pid ${pid}`);
    this.leaders.set(key, node);
    // Leader completeness: every committed entry is in the new leader's log.
    const r = this.replicaOf(node, group)!;
    for (const [lsn, c] of this.committed.get(group) ?? []) {
      if (lsn < r.log.base.lsn) continue;
      const mine = r.log.startingAt(lsn);
      if (!mine || mine.pid !== c.pid || mine.accum !== c.accum) {
        this.fail(
          `leader completeness: ${node} leads group ${group} pid ${pid} without committed entry at ${lsn}`,
        );
        return;
      }
    }
  }

  private onCommitted(node: ReplicaId, group: GroupId, committedEnd: Lsn): void {
    const r = this.replicaOf(node, group);
    if (!r) return;
    const key = `${node}/${group}`;
    const from = Math.max(this.checkedUpTo.get(key) ?? 0, r.log.base.lsn);
    if (from >= committedEnd) return;
    const entries = r.log.range(from, Number.POSITIVE_INFINITY, committedEnd);
    if (entries.length === 0 || entries[0]!.lsn !== from || entries.at(-1)!.end !== committedEnd) {
      this.fail(
        `${node} group ${group}: committed end ${committedEnd} is not backed by its log from ${from}`,
      );
      return;
    }
    let byLsn = this.committed.get(group);
    let byEnd = this.committedByEnd.get(group);
    if (!byLsn || !byEnd) {
      byLsn = new Map();
      byEnd = new Map();
      this.committed.set(group, byLsn);
      this.committedByEnd.set(group, byEnd);
    }
    for (const ge of entries) this.checkCommitted(node, group, ge, byLsn, byEnd);
    this.checkedUpTo.set(key, committedEnd);
  }

  private checkCommitted(
    node: ReplicaId,
    group: GroupId,
    ge: GroupEntry,
    byLsn: Map<Lsn, CommittedEntry>,
    byEnd: Map<Lsn, CommittedEntry>,
  ): void {
    const known = byLsn.get(ge.lsn);
    if (known) {
      if (known.pid !== ge.pid || known.end !== ge.end || known.accum !== ge.accum) {
        this.fail(
          `state machine safety: group ${group} lsn ${ge.lsn} committed as pid ${known.pid} and as pid ${ge.pid} (${node})`,
        );
      }
      return;
    }
    let first = -1;
    let prev = -1;
    for (const e of entriesOf(ge)) {
      if (e.session) this.checkSession(group, e.session.id, e.session.seq, e.lsn);
      if (e.kind === EntryKind.config || e.kind === EntryKind.startWorking)
        this.checkConfig(node, group, e.lsn, decodeConfig(e.payload));
      if (first < 0) first = e.csn;
      if (e.csn <= prev) this.fail(`csn order: group ${group} lsn ${e.lsn} csn ${e.csn} after ${prev}`);
      prev = e.csn;
    }
    const before = byEnd.get(ge.lsn);
    if (before && before.maxCsn >= first) {
      this.fail(`csn order: group ${group} entry at ${ge.lsn} starts at csn ${first} after ${before.maxCsn}`);
    }
    const c: CommittedEntry = {
      lsn: ge.lsn,
      pid: ge.pid,
      end: ge.end,
      accum: ge.accum,
      firstCsn: first,
      maxCsn: prev,
      body: ge.body,
    };
    byLsn.set(ge.lsn, c);
    byEnd.set(ge.end, c);
  }

  /** Idempotent appends: a session's (id, seq) is committed at most once (a retry is recognised). */
  private checkSession(group: GroupId, id: number, seq: number, lsn: Lsn): void {
    const key = `${group}/${id}/${seq}`;
    const at = this.sessionSeqs.get(key);
    if (at === undefined) this.sessionSeqs.set(key, lsn);
    else if (at !== lsn)
      this.fail(
        `idempotency: group ${group} session ${id} seq ${seq} committed twice (lsn ${at} and ${lsn})`,
      );
  }

  /**
   * Configs only move forward: along a group's committed log every config (config and StartWorking entries
   * both carry one) has a version at least the one before it, and one version always names the same config.
   * A member set that went back would let replicas that never saw the step back keep using a config whose
   * quorums the group no longer honours. Entries may be seen out of LSN order, so both neighbours are checked.
   */
  private checkConfig(node: ReplicaId, group: GroupId, lsn: Lsn, config: MemberConfig): void {
    let list = this.committedConfigs.get(group);
    if (!list) {
      list = [];
      this.committedConfigs.set(group, list);
    }
    let i = list.length;
    while (i > 0 && list[i - 1]!.lsn > lsn) i--;
    const at = { lsn, config };
    list.splice(i, 0, at);
    const order = (
      a: { lsn: Lsn; config: MemberConfig } | undefined,
      b: { lsn: Lsn; config: MemberConfig } | undefined,
    ) => {
      if (!a || !b) return;
      const cmp = compareVersion(a.config.version, b.config.version);
      if (cmp > 0) {
        this.fail(
          `config order: group ${group} committed config ${versionText(b.config)} at lsn ${b.lsn} after ${versionText(a.config)} at lsn ${a.lsn} (${node})`,
        );
      } else if (cmp === 0 && configText(a.config) !== configText(b.config)) {
        this.fail(
          `config order: group ${group} config version ${versionText(a.config)} committed as ${configText(a.config)} at lsn ${a.lsn} and as ${configText(b.config)} at lsn ${b.lsn} (${node})`,
        );
      }
    };
    order(list[i - 1], at);
    order(at, list[i + 1]);
  }

  /**
   * A replica leaves its group only on a committed config that names it nowhere: an uncommitted one may be
   * truncated, and the group would go on counting a replica that is gone.
   */
  private checkRemoved(node: ReplicaId, group: GroupId, version: ConfigVersion): void {
    const at = this.committedConfigs.get(group)?.find((c) => compareVersion(c.config.version, version) === 0);
    if (at === undefined) {
      this.fail(
        `membership: ${node} left group ${group} on config ${version.pid}.${version.seq}, which is not committed`,
      );
    } else if (at.config.members.includes(node) || at.config.learners.includes(node)) {
      this.fail(
        `membership: ${node} left group ${group} on config ${versionText(at.config)}, which names it`,
      );
    }
  }

  /** The simulator saw two replicas of `group` hold a valid lease at true time `t`. */
  onLeaseOverlap(group: GroupId, a: ReplicaId, b: ReplicaId, t: number): void {
    const key = `${group}/${[a, b].sort().join("/")}`;
    if (this.leaseOverlaps.has(key)) return;
    this.leaseOverlaps.add(key);
    this.fail(`lease overlap: ${a} and ${b} both hold group ${group}'s lease at t=${t.toFixed(3)}`);
  }

  recordAppend(a: AppendRecord): void {
    this.appends.push(a);
    const key = `${a.node}/${a.group}`;
    let list = this.unresolved.get(key);
    if (!list) {
      list = [];
      this.unresolved.set(key, list);
    }
    list.push(a);
  }

  onResult(node: ReplicaId, r: GroupEntryResult): void {
    const key = `${node}/${r.group}`;
    const range = `${key}/${r.pid}/${r.from}`;
    if (this.resultRanges.has(range))
      this.fail(`second result for group ${r.group} pid ${r.pid} at ${r.from} on ${node}`);
    this.resultRanges.add(range);
    const list = this.unresolved.get(key) ?? [];
    const keep: AppendRecord[] = [];
    for (const a of list) {
      if (a.pid === r.pid && a.lsn >= r.from && a.lsn < r.to) {
        a.result = r.outcome;
        if (r.outcome === "indeterminate") this.indeterminate++;
      } else keep.push(a);
    }
    this.unresolved.set(key, keep);
  }

  /**
   * The node crashed: results of its unresolved appends died with it, and so did its committed ends (a
   * restarted replica may durably hold less than it had reported committed, and relearns it).
   */
  onCrash(node: ReplicaId): void {
    for (const key of [...this.checkedUpTo.keys()])
      if (key.startsWith(`${node}/`)) this.checkedUpTo.delete(key);
    for (const [key, list] of this.unresolved) {
      if (key.startsWith(`${node}/`)) {
        for (const a of list) a.lost = true;
        this.unresolved.set(key, []);
      }
    }
  }

  /** End of run: results agree with the committed log, payloads read back byte for byte. */
  finish(requireResults: boolean): void {
    for (const a of this.appends) {
      const c = this.containing(a.group, a.lsn);
      if (a.result === "committed") {
        if (!c || c.pid !== a.pid) {
          this.fail(
            `append ${a.id} reported committed but group ${a.group} lsn ${a.lsn} holds ${c ? `pid ${c.pid}` : "nothing committed"}`,
          );
          continue;
        }
        const got = readPayload(c, a.lsn);
        if (!got || Buffer.compare(got, a.payload) !== 0)
          this.fail(`append ${a.id} committed but its bytes differ`);
      } else if (a.result === "failed") {
        if (c && c.pid === a.pid && c.lsn <= a.lsn && a.lsn < c.end)
          this.fail(`append ${a.id} reported failed but was committed`);
      } else if (a.result === undefined && !a.lost && requireResults) {
        this.fail(`append ${a.id} (group ${a.group} on ${a.node}) never got a result`);
      }
    }
  }

  private containing(group: GroupId, lsn: Lsn): CommittedEntry | undefined {
    const m = this.committed.get(group);
    if (!m) return undefined;
    for (const c of m.values()) if (c.lsn <= lsn && lsn < c.end) return c;
    return undefined;
  }

  /** Log matching: two replicas with a group entry of the same pid at the same LSN agree on all before it. */
  checkLogMatching(group: GroupId, replicas: readonly Replica[]): void {
    for (let i = 0; i < replicas.length; i++) {
      const a = new Map(replicas[i]!.log.all().map((e) => [e.lsn, e] as const));
      for (let j = i + 1; j < replicas.length; j++) {
        for (const e of replicas[j]!.log.all()) {
          const o = a.get(e.lsn);
          if (o && o.pid === e.pid && (o.accum !== e.accum || o.end !== e.end)) {
            this.fail(
              `log matching: group ${group} lsn ${e.lsn} pid ${e.pid} differs between ${replicas[i]!.self} and ${replicas[j]!.self}`,
            );
          }
        }
      }
    }
  }

  counts() {
    let committed = 0;
    let failed = 0;
    for (const a of this.appends) {
      if (a.result === "committed") committed++;
      else if (a.result === "failed") failed++;
    }
    return { appends: this.appends.length, committed, failed, indeterminate: this.indeterminate };
  }
}

function versionText(c: MemberConfig): string {
  return `${c.version.pid}.${c.version.seq}`;
}

function configText(c: MemberConfig): string {
  return `{members ${c.members.join(",")}; learners ${c.learners.join(",")}; replicaNum ${c.replicaNum}}`;
}

function readPayload(c: CommittedEntry, lsn: Lsn): Uint8Array | undefined {
  for (const e of entriesOf({ lsn: c.lsn, body: c.body } as GroupEntry)) if (e.lsn === lsn) return e.payload;
  return undefined;
}
