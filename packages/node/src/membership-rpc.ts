import { compareVersion, type MemberConfig, type Replica } from "@palf/core";
import {
  type GroupSummary,
  MAX_GROUPS_PAGE,
  type MembershipRequest,
  type RpcResponse,
} from "@palf/transport";
import type { Runtime } from "./runtime.ts";

/** What the membership RPC needs of its node. */
export interface MembershipHost {
  readonly nodeId: string;
  readonly rt: Runtime;
  replica(group: number): Replica | undefined;
  /** Gives the group a loop turn (its open entry freezes, its messages go out). */
  touch(group: number): void;
  replicas(): Iterable<Replica>;
}

/** How often a waiting config change looks at its replica again (ms). */
const POLL_MS = 20;
/** Default wait for a config change to commit: the core's own deadline for a change plus a margin. */
const DEFAULT_WAIT_MS = 30_000;

/**
 * Serves `changeConfig` and `groups`. A config change is started on the group's leader (the core checks it:
 * one change at a time, quorum intersection, an added member caught up first) and answered once its config
 * entry committed; every other end (timed out in the core, leadership lost) is an error naming the state.
 */
export class MembershipRpc {
  constructor(private readonly host: MembershipHost) {}

  async handle(req: MembershipRequest): Promise<RpcResponse> {
    return req.op === "groups"
      ? this.groups(req.fromGroup ?? 0, req.limit ?? MAX_GROUPS_PAGE)
      : this.change(req);
  }

  private groups(fromGroup: number, limit: number): RpcResponse {
    const ids: number[] = [];
    for (const r of this.host.replicas()) if (r.group >= fromGroup) ids.push(r.group);
    ids.sort((a, b) => a - b);
    const page = ids.slice(0, limit);
    const groups = page.flatMap((g) => {
      const r = this.host.replica(g);
      return r ? [summarize(r)] : [];
    });
    const next = ids.length > limit ? ids[limit]! : null;
    return { ok: true, op: "groups", groups, next };
  }

  private async change(req: Extract<MembershipRequest, { op: "changeConfig" }>): Promise<RpcResponse> {
    const { group } = req;
    const r = this.host.replica(group);
    if (!r) return fail("UNKNOWN_GROUP", `no group ${group} on this node`);
    const out = r.changeConfig(req.change, this.host.rt.now());
    this.host.touch(group);
    if (!out.ok) {
      if (out.code === "NOT_LEADER") {
        const hint = r.leaderHint !== r.self ? r.leaderHint : undefined;
        return { ok: false, error: { code: "NOT_LEADER", ...(hint ? { leader: hint } : {}) } };
      }
      return fail(out.code === "BUSY" ? "BUSY" : "BAD_REQUEST", out.reason ?? out.code);
    }
    const target = r.pendingConfig;
    if (!target) return fail("INTERNAL", "the change started but left no pending config");
    const deadline = this.host.rt.now() + (req.waitMs ?? DEFAULT_WAIT_MS);
    for (;;) {
      await new Promise<void>((resolve) => this.host.rt.setTimeout(resolve, POLL_MS));
      if (this.host.replica(group) !== r) return fail("UNKNOWN_GROUP", `group ${group} was deleted`);
      if (r.halted) return fail("FAILED", `replica halted: ${r.halted}`);
      const pending = r.pendingConfig;
      if (pending === target) {
        if (this.host.rt.now() < deadline) continue;
        return fail("TIMEOUT", "the change is still running; look at the group's config");
      }
      if (committed(r, target)) return { ok: true, op: "changeConfig", config: r.latestConfig };
      if (r.role !== "leader")
        return fail("INDETERMINATE", "leadership moved during the change: look at the group's config");
      return fail(
        "FAILED",
        `the change did not complete (an added replica must catch up within ${r.configChangeTimeoutMs} ms); run it again`,
      );
    }
  }
}

/** The target config is the group's latest config and its entry is committed. */
function committed(r: Replica, target: MemberConfig): boolean {
  return compareVersion(r.latestConfig.version, target.version) === 0 && r.committedEnd > r.log.configLsn;
}

/** One replica's view of its group: role, leader, config, log ends and, on the leader, each replica's lag. */
export function summarize(r: Replica): GroupSummary {
  const s = r.status();
  const leading = r.role === "leader" && s.leaseValid;
  let lag: Record<string, number | null> | undefined;
  if (leading) {
    lag = {};
    const matchEnds = new Map(r.peerMatchEnds());
    for (const id of [...r.config.members, ...r.config.learners]) {
      if (id === r.self) continue;
      const matchEnd = matchEnds.get(id);
      lag[id] = matchEnd === undefined || matchEnd < 0 ? null : Math.max(0, r.committedEnd - matchEnd);
    }
  }
  return {
    group: r.group,
    inc: r.inc,
    role: r.role,
    leader: leading ? r.self : r.role === "leader" ? null : (s.leader ?? null),
    halted: r.halted !== undefined,
    config: r.config,
    base: s.base,
    end: s.end,
    committedEnd: s.committedEnd,
    changing: r.pendingConfig !== undefined,
    configCommitted: r.committedEnd > r.log.configLsn || r.log.configLsn <= r.base.lsn,
    ...(lag === undefined ? {} : { lag }),
  };
}

function fail(code: Extract<RpcResponse, { ok: false }>["error"]["code"], message: string): RpcResponse {
  return { ok: false, error: { code, message } };
}
