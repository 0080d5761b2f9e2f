import {
  decodeRequest,
  encodeRpc,
  isAdminOp,
  type LeaderEvent,
  MemoryBus,
  MemoryTransport,
  type RpcRequest,
  type RpcResponse,
  type RpcVia,
  type Transport,
} from "@palf/transport";
import type { ReadEntry } from "./group.ts";

/** What a fake node does with a request before the model sees it. */
export type Intercept = (
  request: RpcRequest,
  node: FakeNode,
) =>
  | RpcResponse
  | "silent"
  | "loseReply"
  | "garbleReply"
  | undefined
  | Promise<RpcResponse | "silent" | "loseReply" | "garbleReply" | undefined>;

/** One fake node: serves the RPC protocol from the shared model on its own MemoryTransport. */
export interface FakeNode {
  readonly id: string;
  readonly transport: Transport;
  /** Never answers (the request times out at the client). */
  silent: boolean;
  /** Answers NOT_LEADER without a leader hint. */
  hideLeader: boolean;
  /** Requests are held (unanswered) until release(). */
  hold: boolean;
  /** Applies the next N requests but loses their replies (the client times out, then retries). */
  loseReplies: number;
  intercept: Intercept | undefined;
}

interface FakeGroup {
  readonly id: number;
  members: string[];
  learners: string[];
  inc: number;
  /** Nodes that host a replica (created and not deleted). */
  readonly hosts: Set<string>;
  leader: string | undefined;
  pid: number;
  readonly log: ReadEntry[];
  end: number;
  lastCsn: number;
  /** (session id, seq) -> the result first given, for idempotent retries. */
  readonly sessions: Map<string, { lsn: number; csn: number }>;
  duplicates: number;
}

/** Bytes of header the fake counts per entry, so LSNs are byte offsets as in PALF. */
const ENTRY_HEADER = 16;

/**
 * A fake palf cluster for client tests and demos: a few nodes on one MemoryBus answering the client RPC
 * protocol from one shared in-test model (one leader per group, the others answer NOT_LEADER with a hint;
 * appends are committed at once; sessions make retries idempotent). Faults: silent nodes, held requests,
 * lost replies, and an intercept hook for any answer.
 */
export class FakeCluster {
  readonly bus: MemoryBus;
  readonly cluster: string;
  readonly nodes = new Map<string, FakeNode>();
  /** Every request any node received, in order. */
  readonly requests: Array<{ readonly node: string; readonly request: RpcRequest }> = [];
  private gtsLast = 0;
  private readonly groups = new Map<number, FakeGroup>();
  private readonly held: Array<() => void> = [];

  /**
   * Nodes `nodes` (default n1, n2, n3) on a MemoryBus; or, with `transports`, one node per given transport
   * (e.g. NATS transports, for multi-process tests), named by its nodeId.
   */
  constructor(
    o: {
      readonly cluster?: string;
      readonly nodes?: readonly string[];
      readonly bus?: MemoryBus;
      readonly transports?: readonly Transport[];
    } = {},
  ) {
    this.bus = o.bus ?? new MemoryBus();
    this.cluster = o.transports?.[0]?.cluster ?? o.cluster ?? "palf";
    if (o.transports !== undefined) for (const t of o.transports) this.addNode(t.nodeId, t);
    else for (const id of o.nodes ?? ["n1", "n2", "n3"]) this.addNode(id);
  }

  /** A transport for a client on the same bus. */
  clientTransport(id = "client-test"): MemoryTransport {
    return new MemoryTransport({ bus: this.bus, cluster: this.cluster, nodeId: id });
  }

  node(id: string): FakeNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no fake node ${id}`);
    return n;
  }

  /** Creates a group on its members directly in the model, optionally with a leader (no event published). */
  addGroup(group: number, members: readonly string[], leader?: string): void {
    const g = this.ensureGroup(group);
    g.members = [...members];
    for (const m of members) g.hosts.add(m);
    if (leader !== undefined) {
      g.leader = leader;
      g.pid++;
    }
  }

  /** Moves leadership to `leader` with a new pid; publishes a leader event from it unless told not to. */
  setLeader(group: number, leader: string | undefined, o: { readonly publish?: boolean } = {}): number {
    const g = this.mustGroup(group);
    g.leader = leader;
    g.pid++;
    if (leader !== undefined && (o.publish ?? true))
      this.publishLeader([{ group, leader, pid: g.pid }], leader);
    return g.pid;
  }

  /** Publishes leader events from a node (possibly stale ones, for tests). */
  publishLeader(events: readonly LeaderEvent[], from = "n1"): void {
    this.node(from).transport.publish("events.leader", encodeRpc(events));
  }

  /** Appends committed entries directly (as if another client wrote them). */
  appendDirect(group: number, ...payloads: string[]): Array<{ lsn: number; csn: number }> {
    const g = this.mustGroup(group);
    return payloads.map((p) => this.appendEntry(g, new TextEncoder().encode(p), undefined));
  }

  /** The group's committed log. */
  log(group: number): readonly ReadEntry[] {
    return this.mustGroup(group).log;
  }

  /** How many retried appends the leader recognised by their session. */
  duplicates(group: number): number {
    return this.mustGroup(group).duplicates;
  }

  leaderOf(group: number): string | undefined {
    return this.groups.get(group)?.leader;
  }

  /** Requests of one op (and node), in order. */
  requestsOf<Op extends RpcRequest["op"]>(
    op: Op,
    node?: string,
  ): Array<{ readonly node: string; readonly request: Extract<RpcRequest, { op: Op }> }> {
    return this.requests.filter(
      (r): r is { node: string; request: Extract<RpcRequest, { op: Op }> } =>
        r.request.op === op && (node === undefined || r.node === node),
    );
  }

  /** Answers every held request (and stops holding). */
  release(): void {
    for (const n of this.nodes.values()) n.hold = false;
    for (const go of this.held.splice(0)) go();
  }

  /** Resolves once no message is queued on the bus (and, over NATS, every node's sends reached the server). */
  async settled(): Promise<void> {
    for (const n of this.nodes.values()) await n.transport.flush();
    await this.bus.settled();
  }

  async close(): Promise<void> {
    for (const n of this.nodes.values()) await n.transport.close();
  }

  private addNode(id: string, given?: Transport): void {
    const transport = given ?? new MemoryTransport({ bus: this.bus, cluster: this.cluster, nodeId: id });
    const node: FakeNode = {
      id,
      transport,
      silent: false,
      hideLeader: false,
      hold: false,
      loseReplies: 0,
      intercept: undefined,
    };
    this.nodes.set(id, node);
    transport.serve((bytes, via) => this.handle(node, bytes, via));
  }

  private async handle(node: FakeNode, bytes: Uint8Array, via: RpcVia): Promise<Uint8Array> {
    const request = decodeRequest(bytes);
    if ("bad" in request)
      return encodeRpc({ ok: false, error: { code: "BAD_REQUEST", message: request.bad } });
    // As a real node: admin requests only on the admin subject.
    if (isAdminOp(request.op) && !via.admin)
      return encodeRpc({
        ok: false,
        error: { code: "FORBIDDEN", message: `${request.op} off the admin subject` },
      });
    this.requests.push({ node: node.id, request });
    if (node.silent) return never();
    if (node.hold) await new Promise<void>((resolve) => this.held.push(resolve));
    const intercepted = node.intercept === undefined ? undefined : await node.intercept(request, node);
    if (intercepted === "silent") return never();
    const response =
      intercepted === "loseReply" || intercepted === "garbleReply" || intercepted === undefined
        ? this.answer(node, request)
        : intercepted;
    if (intercepted === "loseReply") return never();
    // Applied, but the reply's bytes cannot be read (a version byte no client knows).
    if (intercepted === "garbleReply") return new Uint8Array([0xee, 0x01, 0x02]);
    if (node.loseReplies > 0) {
      node.loseReplies--;
      return never();
    }
    return encodeRpc(response);
  }

  private answer(node: FakeNode, r: RpcRequest): RpcResponse {
    switch (r.op) {
      case "status":
        return {
          ok: true,
          op: "status",
          status: {
            node: node.id,
            groups: [...this.groups.values()]
              .filter((g) => g.hosts.has(node.id) && (r.group === undefined || r.group === g.id))
              .map((g) => ({
                group: g.id,
                leader: g.leader,
                role: g.leader === node.id ? "leader" : "follower",
              })),
          },
        };
      case "createGroup": {
        const g = this.ensureGroup(r.group);
        g.members = [...r.members];
        g.learners = [...(r.learners ?? [])];
        g.inc = r.inc ?? 0;
        g.hosts.add(node.id);
        // The first member leads once it hosts the group (an election, collapsed).
        if (g.leader === undefined && node.id === r.members[0]) {
          g.leader = node.id;
          g.pid++;
          this.publishLeader([{ group: g.id, leader: node.id, pid: g.pid }], node.id);
        }
        return { ok: true, op: "createGroup" };
      }
      case "deleteGroup": {
        const g = this.groups.get(r.group);
        if (g === undefined || !g.hosts.has(node.id)) return unknownGroup(r.group);
        g.hosts.delete(node.id);
        if (g.leader === node.id) g.leader = undefined;
        return { ok: true, op: "deleteGroup" };
      }
      case "gts": {
        // Any fake node answers: one in-process clock, strictly increasing.
        const start = Math.max(this.gtsLast + 1, Date.now() * 1000);
        this.gtsLast = start + r.count - 1;
        return { ok: true, op: "gts", start, count: r.count };
      }
      case "groups": {
        const hosted = [...this.groups.values()]
          .filter((g) => g.hosts.has(node.id) && g.id >= (r.fromGroup ?? 0))
          .sort((a, b) => a.id - b.id);
        const groups = hosted.map((g) => ({
          group: g.id,
          inc: g.inc,
          role: g.leader === node.id ? "leader" : "follower",
          leader: g.leader ?? null,
          halted: false,
          config: {
            version: { pid: g.pid, seq: 0 },
            members: g.members,
            learners: g.learners,
            replicaNum: g.members.length,
          },
          base: 0,
          end: g.end,
          committedEnd: g.end,
          changing: false,
          configCommitted: true,
        }));
        return { ok: true, op: "groups", groups, next: null };
      }
      case "changeConfig":
        return {
          ok: false,
          error: { code: "BAD_REQUEST", message: "the fake cluster does not model membership changes" },
        };
      default: {
        const g = this.groups.get(r.group);
        if (g === undefined || !g.hosts.has(node.id)) return unknownGroup(r.group);
        if (g.leader !== node.id)
          return {
            ok: false,
            error: {
              code: "NOT_LEADER",
              ...(g.leader === undefined || node.hideLeader ? {} : { leader: g.leader }),
            },
          };
        return this.leaderAnswer(g, r);
      }
    }
  }

  private leaderAnswer(
    g: FakeGroup,
    r: Exclude<
      RpcRequest,
      { op: "status" | "createGroup" | "deleteGroup" | "gts" | "groups" | "changeConfig" }
    >,
  ): RpcResponse {
    switch (r.op) {
      case "append":
        return {
          ok: true,
          op: "append",
          results: r.items.map((it) => {
            const key = it.session === undefined ? undefined : `${it.session.id}/${it.session.seq}`;
            const seen = key === undefined ? undefined : g.sessions.get(key);
            if (seen !== undefined) {
              g.duplicates++;
              return seen;
            }
            const result = this.appendEntry(g, it.payload, it.refCsn);
            if (key !== undefined) g.sessions.set(key, result);
            return result;
          }),
        };
      case "read": {
        const maxEntries = r.maxEntries ?? 1000;
        const maxBytes = r.maxBytes ?? 1 << 20;
        const entries: ReadEntry[] = [];
        let bytes = 0;
        for (const e of g.log) {
          if (e.lsn < r.fromLsn) continue;
          if (entries.length >= maxEntries || (entries.length > 0 && bytes + e.payload.length > maxBytes))
            break;
          entries.push(e);
          bytes += e.payload.length;
        }
        const last = entries.at(-1);
        const next = last === undefined ? r.fromLsn : last.lsn + size(last);
        return { ok: true, op: "read", entries, committedEnd: g.end, next };
      }
      case "locate":
        return { ok: true, op: "locate", entry: g.log.find((e) => e.csn >= r.csn) ?? null };
      case "fence":
        // Later entries take CSNs above lastCsn, so raising it to csn makes (csn, end) a true vouch here.
        g.lastCsn = Math.max(g.lastCsn, r.csn);
        return { ok: true, op: "fence", w: g.lastCsn, lsn: g.end };
      case "transferLeader":
        if (!g.members.includes(r.target))
          return { ok: false, error: { code: "BAD_REQUEST", message: `${r.target} is not a member` } };
        this.setLeader(g.id, r.target);
        return { ok: true, op: "transferLeader" };
      case "advanceBase":
        return { ok: true, op: "advanceBase", base: 0 };
    }
  }

  private appendEntry(
    g: FakeGroup,
    payload: Uint8Array,
    refCsn: number | undefined,
  ): { lsn: number; csn: number } {
    const csn = Math.max(refCsn ?? 0, g.lastCsn + 1);
    const entry = { lsn: g.end, csn, payload: Uint8Array.from(payload) };
    g.log.push(entry);
    g.end += size(entry);
    g.lastCsn = csn;
    return { lsn: entry.lsn, csn };
  }

  private ensureGroup(group: number): FakeGroup {
    let g = this.groups.get(group);
    if (g === undefined) {
      g = {
        id: group,
        members: [],
        learners: [],
        inc: 0,
        hosts: new Set(),
        leader: undefined,
        pid: 0,
        log: [],
        end: 0,
        lastCsn: 0,
        sessions: new Map(),
        duplicates: 0,
      };
      this.groups.set(group, g);
    }
    return g;
  }

  private mustGroup(group: number): FakeGroup {
    const g = this.groups.get(group);
    if (g === undefined) throw new Error(`no fake group ${group}`);
    return g;
  }
}

function size(e: ReadEntry): number {
  return ENTRY_HEADER + e.payload.length;
}

function unknownGroup(group: number): RpcResponse {
  return { ok: false, error: { code: "UNKNOWN_GROUP", message: `no replica of group ${group} here` } };
}

function never(): Promise<never> {
  return new Promise<never>(() => {});
}
