import fs from "node:fs";
import path from "node:path";
import type { Message, Replica, ReplicaOptions } from "@palf/core";
import { GTS_GROUP, microsFrom } from "@palf/gts";
import { openShardWal, realWalFs, type ShardWal, type ShardWalSpace, type WalFs } from "@palf/storage";
import {
  delay,
  encodeBatches,
  encodeRpc,
  type LeaderEvent,
  type RpcRequest,
  type RpcResponse,
  type Transport,
} from "@palf/transport";
import type { Logger } from "pino";
import { ClientRpcServer } from "./client-rpc.ts";
import { lockDataDir, readShardCount } from "./data-dir.ts";
import { type DiskSpaceOptions, DiskSpaceWatch } from "./disk-space-watch.ts";
import { groupArgsProblem } from "./group-check.ts";
import { LeaseHub } from "./lease-hub.ts";
import { MembershipRpc } from "./membership-rpc.ts";
import { NodeGts, type NodeGtsOptions } from "./node-gts.ts";
import { diskSpace, laggingGroups, type NodeObserver, timedFdatasync } from "./node-metrics.ts";
import type { NodeUnsafeSwitches } from "./node-unsafe.ts";
import { Retention, type RetentionOptions } from "./retention.ts";
import { type Runtime, realRuntime, type TimerHandle } from "./runtime.ts";
import { type NodeInspector, Shard } from "./shard.ts";
import { TurnLag } from "./turn-lag.ts";
import { recoverGroups } from "./wal-binding.ts";

/**
 * How long a leader holds commit info back for the next push to carry the commit point, unless
 * `replica.commitInfoDelayMs` says otherwise: a group appended to at least this often sends no commit info
 * and no ack of it; only reads served by followers see a commit point up to this much later. Both
 * simulators draw the delay per seed (0-100 ms), so this value is covered.
 */
export const DEFAULT_COMMIT_INFO_DELAY_MS = 100;

export interface PalfNodeOptions {
  readonly nodeId: string;
  readonly dataDir: string;
  readonly transport: Transport;
  readonly log: Logger;
  /** Shards (each with its own WAL and loop); group g lives in shard g % shards. Fixed for a data dir. */
  readonly shards?: number;
  readonly segmentBytes?: number;
  readonly diskBudgetBytes?: number;
  /**
   * The NOSPACE alarm (see DiskSpaceWatch), and WAL room that follows the filesystem's free space with a
   * reserve (palfd's default). With diskBudgetBytes set, the budget stays fixed and only the alarm runs.
   */
  readonly diskFreeSpace?: DiskSpaceOptions;
  readonly replica?: Partial<Omit<ReplicaOptions, "group" | "self" | "initialConfig">>;
  /** Bytes of recent entries per group kept in memory (default 256 KiB); older ones are read from the WAL. */
  readonly hotBytesPerGroup?: number;
  /** How long an append RPC waits for its result before answering TIMEOUT (the client retries idempotently). */
  readonly appendTimeoutMs?: number;
  /** Called when the node must stop (an fsync failed): the process should exit and recover on restart. */
  readonly onFatal?: (err: Error) => void;
  /** Clock and timers; the whole-node simulator passes virtual ones. */
  readonly runtime?: Runtime;
  /** GTS server, CSN floors and watermarks (DESIGN section 4). */
  readonly gts?: NodeGtsOptions;
  /**
   * File system of the data dir (default node:fs); the whole-node simulator passes a simulated disk. With a
   * non-default one the data-dir LOCK is skipped (it guards against a second process, which needs real files).
   */
  readonly fs?: WalFs;
  /** Test-only rule breaches for the whole-node simulator's guard tests; never set in production. */
  readonly unsafe?: NodeUnsafeSwitches;
  /** Sees every replica event and append result (the simulator's checkers). */
  readonly inspect?: NodeInspector;
  /** Loop-turn, fdatasync and append-request timings for metrics (palfd --http). */
  readonly observer?: NodeObserver;
  /** Automatic log retention (the cluster's policy; every node should run the same). */
  readonly retention?: RetentionOptions;
}

/**
 * A palf node: K shards, each with its groups, its WAL and its loop, wired to a transport. Peer frames are
 * routed to shards by group; a client RPC server answers appends, reads and admin calls; leadership
 * changes go out as batched events.
 */
export class PalfNode {
  readonly nodeId: string;
  private readonly shards: Shard[] = [];
  private readonly wals: ShardWal[] = [];
  private readonly unsubscribe: Array<() => void> = [];
  private leaderEvents: LeaderEvent[] = [];
  private eventTimer: TimerHandle | undefined;
  private stopping = false;
  private hub!: LeaseHub;
  /** Slow loop turns, measured across the shards: round-trip timeouts of every replica stretch with them. */
  private readonly turnLag = new TurnLag();
  private gts!: NodeGts;
  private lockFile: string | undefined;
  private rebalanceTimer: TimerHandle | undefined;
  /** The NOSPACE alarm and free-space budgets; none without a budget or free-space mode. */
  private disk: DiskSpaceWatch | undefined;
  private readonly rt: Runtime;
  private readonly membership: MembershipRpc;
  private readonly rpc: ClientRpcServer;
  private retention: Retention | undefined;

  private constructor(private readonly opts: PalfNodeOptions) {
    this.nodeId = opts.nodeId;
    this.rt = opts.runtime ?? realRuntime;
    this.membership = new MembershipRpc({
      nodeId: this.nodeId,
      rt: this.rt,
      replica: (g) => this.shardOf(g).replica(g),
      touch: (g) => this.shardOf(g).touch(g),
      replicas: () => this.allReplicas(),
    });
    this.rpc = new ClientRpcServer({
      nodeId: this.nodeId,
      rt: this.rt,
      log: opts.log,
      transport: opts.transport,
      appendTimeoutMs: opts.appendTimeoutMs,
      observer: opts.observer,
      membership: this.membership,
      stopping: () => this.stopping,
      gts: () => this.gts,
      shardOf: (g) => this.shardOf(g),
      shardCount: () => this.shardCount,
      status: () => this.status(),
      groupStatus: (g) => this.groupStatus(g),
    });
  }

  /** Opens (or recovers) the data dir, rebuilds every group from its WAL and starts serving. */
  static async start(opts: PalfNodeOptions): Promise<PalfNode> {
    const node = new PalfNode(opts);
    await node.open();
    return node;
  }

  private get shardCount(): number {
    return this.shards.length;
  }

  private async open(): Promise<void> {
    const { dataDir, log } = this.opts;
    const wfs = this.opts.fs ?? realWalFs;
    if (!wfs.exists(dataDir)) {
      wfs.mkdirp(dataDir);
      wfs.fsyncDirSync(path.dirname(path.resolve(dataDir)));
    }
    if (this.opts.fs === undefined) this.lockFile = lockDataDir(dataDir);
    const shardCount = await readShardCount(wfs, dataDir, this.opts.shards, log);
    const lease = { leaseMs: 4000, renewMs: 500, ...this.opts.replica?.lease, coalesced: true };
    const replicaOptions = { commitInfoDelayMs: DEFAULT_COMMIT_INFO_DELAY_MS, ...this.opts.replica, lease };
    this.hub = new LeaseHub(
      {
        nodeId: this.nodeId,
        replicas: () => this.allReplicas(),
        replica: (g) => this.shardOf(g).replica(g),
        touch: (g) => this.shardOf(g).touch(g),
        wake: (g) => this.shardOf(g).wake(g),
        send: (to, messages) => (to === this.nodeId ? this.route(messages) : this.sendPeer(to, 0, messages)),
      },
      {
        renewMs: lease.renewMs,
        leaseMs: lease.leaseMs,
        maxDrift: lease.maxDrift ?? 0.01,
        leaseGuardMs: lease.leaseGuardMs ?? 50,
      },
      this.rt,
      this.opts.unsafe,
    );
    this.gts = new NodeGts(
      {
        nodeId: this.nodeId,
        transport: this.opts.transport,
        rt: this.rt,
        log,
        hub: this.hub,
        replica: (g) => this.shardOf(g).replica(g),
        replicas: () => this.allReplicas(),
        serveAppends: (g, items) => this.shardOf(g).serveAppends(g, items),
      },
      this.opts.gts,
    );
    const freeSpace = this.opts.diskFreeSpace !== undefined && !this.opts.diskBudgetBytes;
    const walSpaces: (ShardWalSpace | undefined)[] = [];
    for (let i = 0; i < shardCount; i++) {
      const observer = this.opts.observer;
      const walOptions = {
        fs: observer?.fsync ? timedFdatasync(wfs, (ms) => observer.fsync?.(i, ms)) : wfs,
        unsafe: {
          skipDirFsync: this.opts.unsafe?.skipSegmentDirFsync === true,
          retrySync: this.opts.unsafe?.retryFailedSync === true,
        },
        ...(this.opts.segmentBytes ? { segmentBytes: this.opts.segmentBytes } : {}),
        ...(this.opts.diskBudgetBytes ? { diskBudgetBytes: this.opts.diskBudgetBytes } : {}),
      };
      const wal = await openShardWal(path.join(dataDir, `shard-${i}`), walOptions);
      this.wals.push(wal);
      if (wal.tornTail) {
        log.warn(
          { shard: i, ...wal.tornTail },
          "recovery cut a torn tail (a write never acknowledged): bytes dropped from the newest segment",
        );
      }
      // Free-space mode: unbounded until the watch's first statfs sets the budget.
      const walSpace = freeSpace ? wal.room(Number.MAX_SAFE_INTEGER, 0) : undefined;
      walSpaces.push(walSpace);
      const shard = new Shard({
        nodeId: this.nodeId,
        index: i,
        wal,
        log,
        send: (to, messages) => this.sendPeer(to, i, messages),
        deliverLocal: (messages) => this.route(messages),
        onLeader: (e) => this.onLeader(e),
        leases: this.hub,
        loopLag: this.turnLag,
        onFatal: (err) => this.fatal(err),
        replica: replicaOptions,
        runtime: this.rt,
        csnFloor: this.gts.floor,
        changed: (g) => this.gts.floor.changed(g),
        ...(this.opts.unsafe ? { unsafe: this.opts.unsafe } : {}),
        ...(this.opts.inspect ? { inspect: this.opts.inspect } : {}),
        ...(observer ? { observer } : {}),
        ...(this.opts.hotBytesPerGroup !== undefined ? { hotBytesPerGroup: this.opts.hotBytesPerGroup } : {}),
        ...(this.opts.diskBudgetBytes ? { diskBudgetBytes: this.opts.diskBudgetBytes } : {}),
        ...(walSpace ? { walSpace } : {}),
      });
      this.shards.push(shard);
      let recovered = 0;
      for (const g of recoverGroups(wal)) {
        // Test-only breach (forgetPromiseOnRecovery): the replica comes back without its promises and votes.
        const image = this.opts.unsafe?.forgetPromiseOnRecovery
          ? { ...g.image, meta: { promisedPid: 0, highestBallot: 0 } }
          : g.image;
        shard.addGroup(g.group, [], [], g.inc, image);
        recovered++;
      }
      if (recovered > 0) log.info({ shard: i, groups: recovered }, "recovered groups from the WAL");
    }
    // Only when asked (palfd always asks): the simulator's schedules stay as they were without it.
    if (this.opts.diskFreeSpace !== undefined) {
      this.disk = new DiskSpaceWatch(
        dataDir,
        this.shards.map((shard, i) => ({
          wal: this.wals[i]!,
          space: walSpaces[i],
          refused: () => shard.stats.noWalRoom,
          handLeadershipsAway: () => shard.handLeadershipsAway(),
          // A candidate waiting to persist its ballot holds the group as a stalled leader does.
          leaders: () => {
            let n = 0;
            for (const slot of shard.groups.values())
              if (slot.replica.role === "leader" || slot.replica.role === "candidate") n++;
            return n;
          },
        })),
        freeSpace ? "free-space" : "budget",
        log,
        this.rt,
        this.opts.diskFreeSpace,
        (err) => this.fatal(err),
      );
      // The first statfs sets the budgets before anything is served (a restart on a full disk refuses at once).
      await this.disk.start();
    }
    const t = this.opts.transport;
    this.unsubscribe.push(t.onMessages((_shard, messages) => this.route(messages)));
    this.unsubscribe.push(t.serve((req, via) => this.rpc.serve(req, via)));
    this.unsubscribe.push(
      t.onStatus((s) => {
        if (s.type !== "error") log.warn({ status: s.type }, "transport status");
      }),
    );
    await t.flush();
    this.hub.start();
    this.gts.start();
    if (this.opts.retention) {
      const marker = path.join(dataDir, "CURSOR_GROUP_SEEN");
      let cursorSeen = this.opts.fs === undefined && fs.existsSync(marker);
      this.retention = new Retention(
        {
          nodeId: this.nodeId,
          rt: this.rt,
          transport: this.opts.transport,
          log,
          replica: (g) => this.shardOf(g).replica(g),
          replicas: () => this.allReplicas(),
          touch: (g) => this.shardOf(g).touch(g),
          recycle: () => {
            for (const w of this.wals) w.recycle().catch((err: Error) => log.warn({ err }, "WAL recycle"));
          },
          cursorGroupSeen: () => cursorSeen,
          markCursorGroupSeen: () => {
            cursorSeen = true;
            // A marker file (real disks only; a simulated disk keeps it in memory for the run).
            if (this.opts.fs === undefined) fs.writeFileSync(marker, String(Date.now()), { flush: true });
          },
        },
        this.opts.retention,
      );
      this.retention.start();
    }
    this.rebalanceTimer = this.rt.setInterval(() => {
      for (const s of this.shards) s.rebalance();
      // Segments no group needs any more (bases advanced, groups dropped) are deleted or reused.
      for (const w of this.wals)
        w.recycle().catch((err: Error) => this.opts.log.warn({ err }, "WAL recycle"));
    }, 10_000);
  }

  private *allReplicas(): Generator<Replica> {
    for (const s of this.shards) yield* s.replicas();
  }

  private shardOf(group: number): Shard {
    return this.shards[group % this.shardCount]!;
  }

  /** Incoming peer messages, split by the shard that owns each group. */
  private route(messages: readonly Message[]): void {
    const by = new Map<Shard, Message[]>();
    for (const m of messages) {
      if (m.type === "leaseRenew") {
        this.hub.onRenew(m, this.rt.now());
        continue;
      }
      if (m.type === "leaseRenewReply") {
        this.hub.onReply(m, this.rt.now());
        continue;
      }
      const s = this.shardOf(m.group);
      let list = by.get(s);
      if (!list) {
        list = [];
        by.set(s, list);
      }
      list.push(m);
    }
    for (const [s, list] of by) s.receive(list);
  }

  private sendPeer(to: string, shard: number, messages: Message[]): void {
    try {
      for (const frame of encodeBatches(messages, this.opts.transport.maxFrameBytes))
        this.opts.transport.send(to, shard, frame);
    } catch (err) {
      this.opts.log.error({ err, to }, "could not encode a peer batch");
    }
  }

  private onLeader(e: LeaderEvent): void {
    this.leaderEvents.push(e);
    if (this.eventTimer) return;
    // Leadership changes go out batched (many groups fail over at once when a node dies).
    this.eventTimer = this.rt.setTimeout(() => {
      this.eventTimer = undefined;
      const events = this.leaderEvents;
      this.leaderEvents = [];
      if (events.length > 0 && !this.stopping)
        this.opts.transport.publish("events.leader", encodeRpc(events));
    }, 20);
  }

  private fatal(err: Error): void {
    this.opts.log.fatal({ err }, "storage failure: stopping the node (it recovers from its WAL on restart)");
    for (const s of this.shards) s.stop();
    // The stopped leaders must not keep their leases alive through coalesced renewals: their groups could
    // elect no one else for as long as this process lives.
    this.hub.stop();
    this.rt.clearInterval(this.rebalanceTimer);
    this.disk?.stop();
    this.opts.onFatal?.(err);
  }

  /** Answers one decoded client request (tests and the simulator call it directly). */
  handle(req: RpcRequest): Promise<RpcResponse> {
    return this.rpc.handle(req);
  }

  /** Creates a group replica on this node directly (the RPC does the same). */
  createGroup(group: number, members: readonly string[], learners: readonly string[] = [], inc = 0): void {
    const problem = groupArgsProblem(group, members, learners, inc);
    if (problem) throw new Error(`createGroup: ${problem}`);
    const shard = this.shardOf(group);
    if (!shard.replica(group)) shard.addGroup(group, members, learners, inc);
  }

  /** The replica of `group` on this node, for read-only inspection (tests and the simulator's checkers). */
  replica(group: number): Replica | undefined {
    return this.shardOf(group).replica(group);
  }

  groupStatus(group: number) {
    return this.shardOf(group).replica(group)?.status() ?? null;
  }

  status() {
    let groups = 0;
    let leaders = 0;
    let halted = 0;
    let inflightAppends = 0;
    const nodes = new Set<string>([this.nodeId]);
    const shardStats = this.shards.map((s) => {
      let pending = 0;
      for (const slot of s.groups.values()) {
        const r = slot.replica;
        pending += slot.waiters.size;
        if (r.halted) halted++;
        for (const m of r.latestConfig.members) nodes.add(m);
      }
      const led = s.leaders().length;
      groups += s.groups.size;
      leaders += led;
      inflightAppends += pending;
      return { ...s.stats, groups: s.groups.size, leaders: led, inflightAppends: pending };
    });
    const gts = this.replica(GTS_GROUP);
    const published = this.gts.floor.stats.w;
    const nowUs = microsFrom(this.opts.gts?.clockOriginMs ?? performance.timeOrigin, this.rt.now());
    return {
      node: this.nodeId,
      shards: this.shardCount,
      groups,
      leaders,
      halted,
      inflightAppends,
      /** Every node this one shares a group with (and itself). */
      nodes: [...nodes].sort(),
      transport: this.opts.transport.stats(),
      shardStats,
      lease: this.hub.stats,
      watermarks: this.gts.floor.stats,
      /** Leader-answered read fences: asked, answered from a published vouch at once, rounds started, timeouts. */
      readFences: this.gts.fence.stats,
      /** How far this node's newest published watermark trails its clock (null: none published yet). */
      watermarkLagMs: published > 0 ? Math.max(0, nowUs - published) / 1000 : null,
      gts: { hosted: gts !== undefined, leader: gts?.role === "leader", server: this.gts.server.stats },
      lagging: laggingGroups(this.allReplicas(), 5),
      wal: this.wals.map((w) => w.stats()),
      disk: this.disk?.status() ?? (this.opts.fs ? null : diskSpace(this.opts.dataDir)),
      tornTails: this.wals.flatMap((w, shard) => (w.tornTail ? [{ shard, ...w.tornTail }] : [])),
      ...(this.retention ? { retention: this.retention.stats } : {}),
    };
  }

  leaderCount(): number {
    return this.shards.reduce((n, s) => n + s.leaders().length, 0);
  }

  /** Graceful stop: hand leaderships to other members, wait (bounded) for them to move, flush, close. */
  async stop(options: { transferMs?: number } = {}): Promise<void> {
    const deadline = this.rt.now() + (options.transferMs ?? 3000);
    for (const s of this.shards) s.transferAll();
    while (this.leaderCount() > 0 && this.rt.now() < deadline) await delay(this.rt, 50);
    this.stopping = true;
    this.disk?.stop();
    this.hub.stop();
    this.gts.stop();
    this.retention?.stop();
    this.rt.clearInterval(this.rebalanceTimer);
    for (const u of this.unsubscribe) u();
    for (const s of this.shards) s.stop();
    this.rt.clearTimeout(this.eventTimer);
    for (const w of this.wals) {
      try {
        await w.flush();
        await w.close();
      } catch (err) {
        this.opts.log.warn({ err }, "closing a WAL");
      }
    }
    if (this.lockFile) fs.rmSync(this.lockFile, { force: true });
  }
}
