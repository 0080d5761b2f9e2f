import {
  type ConfigChange,
  changeHolds,
  type GroupSummary,
  MAX_GROUPS_PAGE,
  type MemberConfig,
  type RpcRequest,
  type Runtime,
} from "@palf/transport";
import { PalfError } from "./palf-error.ts";
import type { Requester } from "./requester.ts";
import { backoffMs, sleep } from "./retry-policy.ts";

/** A group as the cluster sees it: the leader's summary when one answered, else the newest config seen. */
export interface GroupOverview {
  readonly group: number;
  readonly inc: number;
  readonly leader: string | null;
  readonly members: readonly string[];
  readonly learners: readonly string[];
  readonly replicaNum: number;
  readonly committedEnd: number;
  /** Bytes each replica lags behind the committed end, from the leader (null: not acked yet). */
  readonly lag: Readonly<Record<string, number | null>>;
  /** Nodes that answered hosting a replica of it. */
  readonly hosts: readonly string[];
  /** A config change is running, or the latest config entry is not committed yet. */
  readonly changing: boolean;
}

export interface ClusterOverview {
  readonly groups: readonly GroupOverview[];
  /** Nodes that did not answer (down, or unknown to NATS). */
  readonly unreachable: readonly string[];
}

export interface ChangeOptions {
  /** Overall time for the change, retries and catch-up included (ms). Default: the client's operation timeout. */
  readonly timeoutMs?: number;
  /** removeMember/removeLearner: keep the removed node's replica (default: delete it once the change committed). */
  readonly keepReplica?: boolean;
  /** Nodes to ask for the group's state besides the seed list. */
  readonly nodes?: readonly string[];
  /**
   * The node believed to lead the group (a previous change's `leader`): the first attempt of a change that
   * creates no replica goes straight to it, without looking at the group first.
   */
  readonly leader?: string;
}

export interface ChangeResult {
  readonly group: number;
  readonly config: MemberConfig;
  /** False when the group already had the asked membership (a re-run does nothing). */
  readonly changed: boolean;
  /** The leader that answered, when one did. */
  readonly leader?: string;
}

interface View {
  readonly leader: GroupSummary | undefined;
  readonly newest: GroupSummary | undefined;
  readonly hosts: string[];
}

/** Group membership as an operator changes it: one change at a time, each idempotent, each checked by the leader. */
export class Membership {
  constructor(
    private readonly requester: Requester,
    private readonly seedNodes: readonly string[],
    private readonly operationTimeoutMs: number,
  ) {}

  /** The client's clock and timers. */
  get runtime(): Runtime {
    return this.requester.runtime;
  }

  /** The client's seed list: the nodes asked by default. */
  get seeds(): readonly string[] {
    return this.seedNodes;
  }

  /**
   * Every group a node hosts (all pages). `probe`: the first page is asked once, not retried, so a dead node
   * (no responders) costs one request instead of retries for the whole timeout.
   */
  async groupsOn(node: string, timeoutMs = this.operationTimeoutMs, probe = false): Promise<GroupSummary[]> {
    const out: GroupSummary[] = [];
    let from: number | null = 0;
    while (from !== null) {
      const request: RpcRequest = { op: "groups", fromGroup: from, limit: MAX_GROUPS_PAGE };
      let r: Awaited<ReturnType<Requester["toNode"]>>;
      if (probe && from === 0) {
        const a = await this.requester.send(node, request, timeoutMs);
        if (!a.ok) throw a.error;
        r = a.response;
      } else r = await this.requester.toNode(node, request, { timeoutMs, what: `groups of ${node}` });
      if (r.op !== "groups") throw new PalfError("INTERNAL", `${node} answered ${r.op} to groups`);
      out.push(...r.groups);
      from = r.next;
    }
    return out;
  }

  /** Every group hosted on `nodes` (default: the seed list), merged: the leader's view wins. */
  async overview(nodes: readonly string[] = this.seedNodes): Promise<ClusterOverview> {
    const per = await Promise.allSettled(
      nodes.map((n) => this.groupsOn(n, this.requester.requestTimeoutMs, true)),
    );
    const unreachable: string[] = [];
    const byGroup = new Map<number, { summaries: GroupSummary[]; hosts: string[] }>();
    per.forEach((r, i) => {
      if (r.status === "rejected") {
        unreachable.push(nodes[i]!);
        return;
      }
      for (const s of r.value) {
        const e = byGroup.get(s.group) ?? { summaries: [], hosts: [] };
        byGroup.set(s.group, e);
        e.summaries.push(s);
        e.hosts.push(nodes[i]!);
      }
    });
    const groups = [...byGroup.entries()]
      .sort(([a], [b]) => a - b)
      .map(([group, e]) => toOverview(group, pick(e.summaries), e.hosts));
    return { groups, unreachable };
  }

  /** The group as its leader (or, with none answering, the newest config seen) reports it. */
  async group(group: number, nodes: readonly string[] = []): Promise<GroupOverview | undefined> {
    const v = await this.view(group, nodes);
    const s = v.leader ?? v.newest;
    return s ? toOverview(group, s, v.hosts) : undefined;
  }

  /**
   * Makes `change` hold for `group`, on its leader. A change that already holds does nothing, so a re-run
   * after an interruption finishes what is left. addMember/addLearner first create the replica on the new
   * node (it catches up, or rebuilds from the leader's base, before the leader lets it count); remove
   * deletes the removed replica afterwards unless `keepReplica`.
   */
  async change(group: number, change: ConfigChange, o: ChangeOptions = {}): Promise<ChangeResult> {
    const rt = this.runtime;
    const deadline = rt.now() + (o.timeoutMs ?? this.operationTimeoutMs);
    let changed = false;
    let last: PalfError | undefined;
    const removal = change.type === "removeMember" || change.type === "demoteMember";
    // A change right after another one knows the leader: no look at the group first (one round trip less).
    let hint =
      o.leader !== undefined && change.type !== "addMember" && change.type !== "addLearner"
        ? removal && change.id === o.leader
          ? undefined
          : o.leader
        : undefined;
    for (let attempt = 1; ; attempt++) {
      const remaining = deadline - rt.now();
      if (remaining <= 0)
        throw new PalfError(
          last?.code === "TIMEOUT" || last === undefined ? "TIMEOUT" : last.code,
          `change ${describeChange(change)} of group ${group}: ${last?.message ?? "no leader answered"}`,
          { group },
        );
      if (hint !== undefined) {
        const to = hint;
        hint = undefined;
        const a = await this.ask1(to, group, change, remaining);
        if (a.ok && a.response.op === "changeConfig" && changeHolds(a.response.config, change)) {
          await this.afterChange(group, change, to, o);
          return { group, config: a.response.config, changed: true, leader: to };
        }
        // Unless the hinted node refused outright, the change may have happened: the next look says.
        if (a.ok || !a.answered || ["TIMEOUT", "INDETERMINATE"].includes(a.error.code)) changed = true;
        continue;
      }
      const v = await this.view(group, o.nodes ?? []);
      const lead = v.leader;
      if (!lead) {
        if (!v.newest) throw new PalfError("UNKNOWN_GROUP", `no node hosts group ${group}`, { group });
        last = new PalfError("NOT_LEADER", `group ${group} has no leader`, { group });
        await sleep(rt, backoffMs(rt, attempt, { maxMs: 500 }));
        continue;
      }
      if (!lead.changing && lead.configCommitted && changeHolds(lead.config, change)) {
        await this.afterChange(group, change, lead.leader, o);
        return { group, config: lead.config, changed, ...(lead.leader ? { leader: lead.leader } : {}) };
      }
      if (removal && lead.leader === change.id) {
        // The leader cannot remove itself: hand leadership to the member that lags least.
        const heir = lead.config.members
          .filter((n) => n !== change.id)
          .sort((a, b) => (lead.lag?.[a] ?? Infinity) - (lead.lag?.[b] ?? Infinity))[0];
        if (heir === undefined)
          throw new PalfError("BAD_REQUEST", `group ${group} has no other member`, { group });
        await this.moveLeader(group, heir, { ...o, timeoutMs: Math.min(remaining, 10_000) }).catch((e) => {
          last = e as PalfError;
        });
        continue;
      }
      if (lead.changing || !lead.configCommitted) {
        await sleep(rt, backoffMs(rt, attempt, { maxMs: 200 }));
        continue;
      }
      if (change.type === "addMember" || change.type === "addLearner")
        await this.host(group, change.id, lead, Math.min(remaining, this.operationTimeoutMs));
      const to = lead.leader ?? lead.config.members[0]!;
      const a = await this.ask1(to, group, change, remaining);
      if (a.ok && a.response.op === "changeConfig") {
        changed = true;
        // The leader answers once the change's config entry committed: done, without looking again.
        if (changeHolds(a.response.config, change)) {
          await this.afterChange(group, change, to, o);
          return { group, config: a.response.config, changed, leader: to };
        }
        continue;
      }
      if (a.ok) throw new PalfError("INTERNAL", `answered ${a.response.op} to changeConfig`, { group });
      last = a.error;
      // Whatever may have happened (lost leadership, catch-up still running), the next look at the group says.
      const again =
        !a.answered ||
        ["NOT_LEADER", "BUSY", "TIMEOUT", "INDETERMINATE", "FAILED", "STOPPING"].includes(a.error.code);
      if (!again) throw a.error;
      if (a.error.code !== "FAILED") changed = true;
      await sleep(rt, backoffMs(rt, attempt, { maxMs: 500 }));
    }
  }

  /** One changeConfig request to the node believed to lead the group. */
  private ask1(to: string, group: number, change: ConfigChange, remaining: number) {
    // The node waits a little less than one request may take, so a slow catch-up is a TIMEOUT answer to look again at.
    const waitMs = Math.max(100, Math.min(remaining, this.requester.requestTimeoutMs) - 500);
    const request: RpcRequest = { op: "changeConfig", group, change, waitMs };
    return this.requester.send(to, request, waitMs + 500, group);
  }

  /** Asks the group's leader to hand leadership to `target` and waits until it leads. */
  async moveLeader(group: number, target: string, o: ChangeOptions = {}): Promise<void> {
    const rt = this.runtime;
    const deadline = rt.now() + (o.timeoutMs ?? this.operationTimeoutMs);
    for (let attempt = 1; rt.now() < deadline; attempt++) {
      const v = await this.view(group, [...(o.nodes ?? []), target]);
      if (v.leader?.leader === target) return;
      if (v.leader?.leader) {
        await this.requester.send(
          v.leader.leader,
          { op: "transferLeader", group, target },
          this.requester.requestTimeoutMs,
          group,
        );
      }
      await sleep(rt, backoffMs(rt, attempt, { initialMs: 50, maxMs: 500 }));
    }
    throw new PalfError("TIMEOUT", `leadership of group ${group} did not move to ${target}`, { group });
  }

  /** Creates the replica on the node being added, with the group's current config (it is not in it yet). */
  private async host(group: number, node: string, lead: GroupSummary, timeoutMs: number): Promise<void> {
    // The node only hosts a group it is listed in: it joins as a learner of its own initial config, which
    // gives it no vote; the leader's log (or a rebuild from its base) then brings the real configs.
    const learners = [...lead.config.learners.filter((l) => l !== node), node];
    await this.requester.toNode(
      node,
      { op: "createGroup", group, members: lead.config.members, learners, inc: lead.inc },
      { timeoutMs, what: `creating group ${group}'s replica on ${node}` },
    );
  }

  private async afterChange(
    group: number,
    change: ConfigChange,
    leader: string | null,
    o: ChangeOptions,
  ): Promise<void> {
    if (o.keepReplica || (change.type !== "removeMember" && change.type !== "removeLearner")) return;
    if (change.id === leader) return;
    const a = await this.requester.send(
      change.id,
      { op: "deleteGroup", group },
      this.requester.requestTimeoutMs,
      group,
    );
    // A dead node keeps its replica; a node that comes back with it is not in the config and gets no traffic.
    void a;
  }

  private async view(group: number, extra: readonly string[]): Promise<View> {
    const asked = new Set([...this.seedNodes, ...extra]);
    const summaries = await this.ask(group, [...asked]);
    let found = summaries;
    // Members the seed list does not name (a replaced node's successor, say) may hold the leader.
    const more = new Set(
      summaries.flatMap(([, s]) => [...s.config.members, ...s.config.learners]).filter((n) => !asked.has(n)),
    );
    if (!found.some(([, s]) => isLeading(s)) && more.size > 0)
      found = [...found, ...(await this.ask(group, [...more]))];
    const leaders = found.filter(([, s]) => isLeading(s)).map(([, s]) => s);
    return {
      leader: newest(leaders),
      newest: newest(found.map(([, s]) => s)),
      hosts: found.map(([n]) => n),
    };
  }

  private async ask(group: number, nodes: readonly string[]): Promise<Array<[string, GroupSummary]>> {
    const out: Array<[string, GroupSummary]> = [];
    await Promise.all(
      nodes.map(async (n) => {
        const a = await this.requester.send(
          n,
          { op: "groups", fromGroup: group, limit: 1 },
          this.requester.requestTimeoutMs,
        );
        if (a.ok && a.response.op === "groups" && a.response.groups[0]?.group === group)
          out.push([n, a.response.groups[0]]);
      }),
    );
    return out;
  }
}

export function describeChange(c: ConfigChange): string {
  return c.type === "setReplicaNum" ? `setReplicaNum ${c.replicaNum}` : `${c.type} ${c.id}`;
}

function isLeading(s: GroupSummary): boolean {
  return s.role === "leader" && s.leader !== null && !s.halted;
}

/** The summary with the newest config version (a leader of an older term may still think it leads). */
function newest(list: readonly GroupSummary[]): GroupSummary | undefined {
  let best: GroupSummary | undefined;
  for (const s of list) {
    const v = s.config.version;
    const b = best?.config.version;
    if (
      !b ||
      v.pid > b.pid ||
      (v.pid === b.pid && v.seq > b.seq) ||
      (v.pid === b.pid && v.seq === b.seq && isLeading(s))
    )
      best = s;
  }
  return best;
}

function pick(list: readonly GroupSummary[]): GroupSummary {
  return newest(list.filter(isLeading)) ?? newest(list)!;
}

function toOverview(group: number, s: GroupSummary, hosts: readonly string[]): GroupOverview {
  return {
    group,
    inc: s.inc,
    leader: isLeading(s) ? s.leader : null,
    members: s.config.members,
    learners: s.config.learners,
    replicaNum: s.config.replicaNum,
    committedEnd: s.committedEnd,
    lag: s.lag ?? {},
    hosts,
    changing: s.changing || !s.configCommitted,
  };
}
