import type { Replica } from "@palf/core";
import { CEILING_PAYLOAD, GTS_GROUP, GtsClient, GtsServer, microsFrom } from "@palf/gts";
import type { AppendItem, AppendOutcomeWire, RpcResponse, Transport } from "@palf/transport";
import type { Logger } from "pino";
import type { LeaseHub } from "./lease-hub.ts";
import type { NodeRuntime, TimerHandle } from "./runtime.ts";
import { WatermarkPublisher } from "./watermarks.ts";

export interface NodeGtsOptions {
  /** Ceiling window of the GTS leader (default 3 s). */
  readonly windowUs?: number;
  /** Watermark interval (default 50 ms). */
  readonly watermarkMs?: number;
  /**
   * Leaders of data groups wait for a GTS floor even if this node hosts no GTS replica (set it when the
   * cluster's GTS group lives on other nodes). Nodes that host the GTS group always do.
   */
  readonly required?: boolean;
  /** Wall-clock anchor of the runtime's monotonic clock, in ms (default performance.timeOrigin). */
  readonly clockOriginMs?: number;
}

export interface NodeGtsHost {
  readonly nodeId: string;
  readonly transport: Transport;
  readonly rt: NodeRuntime;
  readonly log: Logger;
  readonly hub: LeaseHub;
  replica(group: number): Replica | undefined;
  replicas(): Iterable<Replica>;
  serveAppends(group: number, items: readonly AppendItem[]): Promise<AppendOutcomeWire[]>;
}

/** How long a watermark round waits for the local GTS server before asking over the network instead. */
const LOCAL_GTS_WAIT_MS = 2000;

/**
 * The node's part in GTS: the timestamp server for the GTS group when this node leads it, a GTS client
 * for its own floors, and the watermark publisher that is every data group's CSN floor.
 */
export class NodeGts {
  readonly server: GtsServer;
  readonly client: GtsClient;
  readonly floor: WatermarkPublisher;

  constructor(
    private readonly host: NodeGtsHost,
    opts: NodeGtsOptions = {},
  ) {
    const origin = opts.clockOriginMs ?? performance.timeOrigin;
    const gtsReplica = () => host.replica(GTS_GROUP);
    this.server = new GtsServer(
      {
        leaderPid: () => {
          const r = gtsReplica();
          return r && r.role === "leader" && !r.halted && r.leaseValid(host.rt.now()) ? r.myPid : 0;
        },
        leaderHint: () => {
          const r = gtsReplica();
          return r?.leaderHint !== host.nodeId ? r?.leaderHint : undefined;
        },
        committedCeiling: () => gtsReplica()?.committedCsn ?? 0,
        appendCeiling: (value) => this.appendCeiling(value),
        nowUs: () => microsFrom(origin, host.rt.now()),
      },
      opts.windowUs === undefined ? {} : { windowUs: opts.windowUs },
    );
    this.client = new GtsClient(host.transport, { nodes: () => this.gtsNodes(), runtime: host.rt });
    this.floor = new WatermarkPublisher(
      {
        nodeId: host.nodeId,
        gtsExpected: () => opts.required === true || gtsReplica() !== undefined,
        replica: (g) => (g === GTS_GROUP ? undefined : host.replica(g)),
        timestamp: () => this.floorTimestamp(),
        renewBusy: () => host.hub.renewNow(),
        coveringMembers: (r) => host.hub.coveringMembers(r),
        coveredUntil: (member) => host.hub.coveredUntil(member),
        coverageVersion: () => host.hub.coverageVersion,
        publish: (batch) => host.transport.publish("events.watermarks", batch),
        onError: (err) => host.log.warn({ err: err.message }, "watermark round without a GTS value"),
      },
      host.rt,
      { intervalMs: opts.watermarkMs ?? 50 },
    );
  }

  start(): void {
    this.floor.start();
  }

  stop(): void {
    this.floor.stop();
    this.client.close();
  }

  async serve(count: number): Promise<RpcResponse> {
    const a = await this.server.serve(count);
    if (a.ok) return { ok: true, op: "gts", start: a.start, count: a.count };
    return {
      ok: false,
      error: { code: "NOT_LEADER", message: "not the GTS leader", ...(a.leader ? { leader: a.leader } : {}) },
    };
  }

  /**
   * A watermark round's GTS value: served here when this node leads the GTS group (the server checks its
   * lease as for any caller), saving a request and its reply per round; else asked of the leader.
   */
  private async floorTimestamp(): Promise<number> {
    if (this.host.replica(GTS_GROUP)?.role === "leader") {
      // Bounded like a request: a ceiling that cannot commit must not stall the rounds.
      let timer: TimerHandle | undefined;
      const late = new Promise<undefined>((resolve) => {
        timer = this.host.rt.setTimeout(() => resolve(undefined), LOCAL_GTS_WAIT_MS);
      });
      const a = await Promise.race([this.server.serve(1), late]);
      this.host.rt.clearTimeout(timer);
      if (a?.ok) return a.start;
    }
    return this.client.timestamp();
  }

  /** Members of the local GTS replica, else every node this one shares a group with. */
  private gtsNodes(): readonly string[] {
    const r = this.host.replica(GTS_GROUP);
    if (r) return r.latestConfig.members;
    const nodes = new Set<string>();
    for (const x of this.host.replicas()) for (const m of x.latestConfig.members) nodes.add(m);
    return nodes.size > 0 ? [...nodes] : [this.host.nodeId];
  }

  private async appendCeiling(value: number): Promise<boolean> {
    const [out] = await this.host.serveAppends(GTS_GROUP, [{ payload: CEILING_PAYLOAD, refCsn: value }]);
    if (!out || !("lsn" in out)) return false;
    // The ceiling is the entry's CSN, which the base keeps when older entries are recycled.
    this.host.replica(GTS_GROUP)?.advanceBase(out.lsn, this.host.rt.now());
    return true;
  }
}
