// The client RPC server of a node: appends (answered once committed, or TIMEOUT), reads paged by count and
// bytes, locate by CSN, status, group admin calls and timestamps; membership calls go to MembershipRpc.
import { GTS_GROUP } from "@palf/gts";
import {
  decodeRequest,
  encodeRpc,
  isAdminOp,
  maxAppendItems,
  type RpcRequest,
  type RpcResponse,
  type RpcVia,
  type Transport,
} from "@palf/transport";
import type { Logger } from "pino";
import { groupArgsProblem } from "./group-check.ts";
import type { MembershipRpc } from "./membership-rpc.ts";
import type { NodeGts } from "./node-gts.ts";
import type { NodeObserver } from "./node-metrics.ts";
import { readLimits } from "./reply-budget.ts";
import type { NodeRuntime, TimerHandle } from "./runtime.ts";
import type { Shard } from "./shard.ts";

/** What the RPC server needs of its node. */
export interface ClientRpcHost {
  readonly nodeId: string;
  readonly rt: NodeRuntime;
  readonly log: Logger;
  readonly transport: Transport;
  /** How long an append waits for its result before answering TIMEOUT (default 10 s). */
  readonly appendTimeoutMs: number | undefined;
  readonly observer: NodeObserver | undefined;
  readonly membership: MembershipRpc;
  /** True once the node stops: everything but status is answered STOPPING. */
  stopping(): boolean;
  gts(): NodeGts;
  shardOf(group: number): Shard;
  shardCount(): number;
  status(): unknown;
  groupStatus(group: number): unknown;
}

export class ClientRpcServer {
  constructor(private readonly host: ClientRpcHost) {}

  /** Answers one request from the wire: refused when malformed, or an admin op off the admin subject. */
  async serve(bytes: Uint8Array, via: RpcVia): Promise<Uint8Array> {
    const req = decodeRequest(bytes);
    if ("bad" in req) return encodeRpc({ ok: false, error: { code: "BAD_REQUEST", message: req.bad } });
    // Admin requests count only on the admin subject, which NATS permissions keep from client credentials.
    if (isAdminOp(req.op) && !via.admin) {
      const message = `${req.op} is an admin request: send it on palf.<cluster>.admin.<node> with admin credentials`;
      return encodeRpc({ ok: false, error: { code: "FORBIDDEN", message } });
    }
    try {
      return encodeRpc(await this.handle(req));
    } catch (err) {
      this.host.log.error({ err, op: req.op }, "RPC failed");
      return encodeRpc({ ok: false, error: { code: "INTERNAL", message: (err as Error).message } });
    }
  }

  /** Answers one decoded request (tests and the simulator call it directly, as if it came on the admin subject). */
  async handle(req: RpcRequest): Promise<RpcResponse> {
    if (this.host.stopping() && req.op !== "status")
      return { ok: false, error: { code: "STOPPING", message: "node is stopping" } };
    switch (req.op) {
      case "gts":
        return this.host.gts().serve(req.count);
      case "append": {
        if (req.group === GTS_GROUP)
          return { ok: false, error: { code: "BAD_REQUEST", message: "group 0 is the GTS group" } };
        const most = maxAppendItems(this.host.transport.maxFrameBytes);
        if (req.items.length > most) {
          const message = `${req.items.length} items in one append: its reply holds at most ${most}`;
          return { ok: false, error: { code: "BAD_REQUEST", message } };
        }
        const timeout = this.host.appendTimeoutMs ?? 10_000;
        const arrived = this.host.rt.now();
        const results = await withTimeout(
          this.host.rt,
          this.host.shardOf(req.group).serveAppends(req.group, req.items),
          timeout,
          () =>
            req.items.map(() => ({
              error: {
                code: "TIMEOUT" as const,
                message: `no result within ${timeout} ms; retry with the same session`,
              },
            })),
        );
        this.host.observer?.appended?.(
          req.group % this.host.shardCount(),
          req.items,
          results,
          this.host.rt.now() - arrived,
        );
        return { ok: true, op: "append", results };
      }
      case "read": {
        const limits = readLimits(
          req.maxEntries ?? 1000,
          req.maxBytes ?? 512 * 1024,
          this.host.transport.maxFrameBytes,
        );
        const res = this.host
          .shardOf(req.group)
          .read(req.group, req.fromLsn, limits.maxEntries, limits.maxBytes);
        if (!res) return unknownGroup(req.group);
        if ("recycledBelow" in res) {
          return {
            ok: false,
            error: {
              code: "RECYCLED",
              message: `lsn ${req.fromLsn} was recycled; the log starts at ${res.recycledBelow}`,
            },
          };
        }
        const page = {
          ok: true,
          op: "read",
          entries: res.entries,
          committedEnd: res.committedEnd,
          next: res.next,
        } as const;
        return limits.capped && res.next < res.committedEnd ? { ...page, frameLimited: true } : page;
      }
      case "locate": {
        const e = this.host.shardOf(req.group).locate(req.group, req.csn);
        if (e === undefined) return unknownGroup(req.group);
        return {
          ok: true,
          op: "locate",
          entry: e ? { lsn: e.lsn, csn: e.csn, payload: Buffer.from(e.payload) } : null,
        };
      }
      case "status":
        return {
          ok: true,
          op: "status",
          status: req.group === undefined ? this.host.status() : this.host.groupStatus(req.group),
        };
      case "createGroup": {
        const problem = groupArgsProblem(req.group, req.members, req.learners ?? [], req.inc ?? 0);
        if (problem) return { ok: false, error: { code: "BAD_REQUEST", message: problem } };
        if (!req.members.includes(this.host.nodeId) && !(req.learners ?? []).includes(this.host.nodeId)) {
          return {
            ok: false,
            error: {
              code: "BAD_REQUEST",
              message: `${this.host.nodeId} is not in the group's members or learners`,
            },
          };
        }
        const shard = this.host.shardOf(req.group);
        const existing = shard.replica(req.group);
        // Idempotent for the incarnation hosted here; any other must not be reported created while this one stays.
        if (existing?.inc === (req.inc ?? 0)) return { ok: true, op: "createGroup" };
        if (existing) {
          const message = `group ${req.group} is here as incarnation ${existing.inc}: delete it first`;
          return { ok: false, error: { code: "BAD_REQUEST", message } };
        }
        shard.addGroup(req.group, req.members, req.learners ?? [], req.inc ?? 0);
        return { ok: true, op: "createGroup" };
      }
      case "deleteGroup":
        return this.host.shardOf(req.group).deleteGroup(req.group)
          ? { ok: true, op: "deleteGroup" }
          : unknownGroup(req.group);
      case "advanceBase": {
        const r = this.host.shardOf(req.group).replica(req.group);
        if (!r) return unknownGroup(req.group);
        r.advanceBase(req.lsn, this.host.rt.now());
        this.host.shardOf(req.group).touch(req.group);
        return { ok: true, op: "advanceBase", base: r.base.lsn };
      }
      case "transferLeader": {
        const r = this.host.shardOf(req.group).replica(req.group);
        if (!r) return unknownGroup(req.group);
        const out = r.transferLeader(req.target, this.host.rt.now());
        return out.ok
          ? { ok: true, op: "transferLeader" }
          : { ok: false, error: { code: "BAD_REQUEST", message: out.reason } };
      }
      case "changeConfig":
      case "groups":
        return this.host.membership.handle(req);
    }
  }
}

function unknownGroup(group: number): RpcResponse {
  return { ok: false, error: { code: "UNKNOWN_GROUP", message: `no group ${group} on this node` } };
}

async function withTimeout<T>(rt: NodeRuntime, p: Promise<T>, ms: number, onTimeout: () => T): Promise<T> {
  let timer: TimerHandle | undefined;
  const t = new Promise<T>((resolve) => {
    timer = rt.setTimeout(() => resolve(onTimeout()), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    rt.clearTimeout(timer);
  }
}
