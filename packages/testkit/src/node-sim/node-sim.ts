/**
 * The whole-node simulator's world: N machines, each with a clock (drifting, jumping), a simulated disk and
 * a place on the simulated network, running the real PalfNode (shards, lease hub, WAL, RPC server) on them.
 * A crash drops the node object without stop() and crashes its disk; a restart runs PalfNode.start on the
 * same disk. Checkers watch every replica event (through the node's inspector), every step (two leaders
 * with valid leases at one true instant) and, at the end, the logs and the client history.
 */
import {
  type GroupEntryResult,
  Prng,
  type Replica,
  type ReplicaEvent,
  type UnsafeSwitches,
} from "@palf/core";
import { type NodeUnsafeSwitches, PalfNode } from "@palf/node";
import { decodeRequest, type RpcRequest } from "@palf/transport";
import pino from "pino";
import { Checker } from "../checker.ts";
import {
  byIncarnation,
  groupOfKey,
  incarnationProblem,
  incKey,
  keyedEvent,
  keyedResult,
  nameIncarnations,
  replicaOfKey,
} from "./incarnations.ts";
import { SimDisk, type SimFs } from "./sim-disk.ts";
import { SimNetwork, type SimTransport } from "./sim-network.ts";
import { Proc, SimClock, SimRuntime, SimScheduler } from "./sim-scheduler.ts";

export interface NodeSimOptions {
  readonly seed: number;
  /** Machines in the cluster (default 3). */
  readonly nodes?: number;
  /** Groups, each on `replicas` of the machines (default 3). */
  readonly groups?: number;
  readonly replicas?: 3 | 5;
  /** Shards per node (default 2). */
  readonly shards?: number;
  /** Node-layer rule breaches (guard tests). */
  readonly unsafe?: NodeUnsafeSwitches;
  /** Core rule breaches (guard tests): every replica's ReplicaOptions.unsafe. */
  readonly replicaUnsafe?: Partial<UnsafeSwitches>;
  /** Max clock rate error actually simulated; must stay within the configured maxDrift (default 0.005). */
  readonly drift?: number;
  /** Debugging a seed: one line per notable event. */
  readonly trace?: (line: string) => void;
  /**
   * The white-box recovery check (a restarted replica recovers at least what it reported durable); default
   * on. Guard tests turn it off to see whether the end-to-end checks (client history, leases) catch a breach too.
   */
  readonly recoveryCheck?: boolean;
  /**
   * What the process does when its node reports a fatal storage error: exit soon (as palfd's onFatal does,
   * default) or stay up with its shards stopped (a host that ignores onFatal; the node must not keep its
   * leaderships alive then).
   */
  readonly onFatal?: "exit" | "stay";
  /** Each shard WAL's disk budget (PalfNode's diskBudgetBytes); none by default. */
  readonly diskBudgetBytes?: number;
  /** WAL segment size (default 16 KiB). */
  readonly segmentBytes?: number;
  /** Every replica's ReplicaOptions.commitInfoDelayMs (default: the core default, commit info at once). */
  readonly commitInfoDelayMs?: number;
}

/** Lease timing of the simulated cluster (short, so a seed covers many elections). */
export const SIM_LEASE = {
  leaseMs: 2000,
  renewMs: 250,
  maxDrift: 0.01,
  leaseGuardMs: 50,
  electionJitterMs: 300,
  voteWindowMs: 50,
} as const;

const silent = pino({ level: "silent" });

interface Life {
  readonly proc: Proc;
  readonly rt: SimRuntime;
  readonly fs: SimFs;
  readonly transport: SimTransport;
  node: PalfNode | undefined;
  /** Replicas seen through the inspector (also before PalfNode.start resolves). */
  readonly replicas: Map<number, Replica>;
  /** An fsync failed: the node stopped its shards and its process is about to exit. */
  fatal: boolean;
  /** An injected disk error hit this life (its storage-failure halts are expected). */
  diskError: boolean;
  /** A graceful stop is under way. */
  stopping: boolean;
}

/** What a replica had made durable when its process died (only taken when every record it asked for was). */
interface DurableSnapshot {
  readonly end: number;
  readonly lastPid: number;
  /** Promises are persisted whenever they rise (ballots are not: only grants persist them, so no check). */
  readonly promised: number;
  /** The group's incarnation then: a restart must not bring back an older one (see incarnationProblem). */
  readonly inc: number;
}

/** One simulated machine. */
export class SimHost {
  life: Life | undefined;
  lives = 0;
  booted = false;
  /** Per group, what the last life had made durable: the next life must recover at least that. */
  crashed = new Map<number, DurableSnapshot>();
  constructor(
    readonly id: string,
    readonly clock: SimClock,
    readonly disk: SimDisk,
  ) {}
}

export class NodeSim {
  readonly rng: Prng;
  readonly sched = new SimScheduler();
  readonly net: SimNetwork;
  readonly hosts = new Map<string, SimHost>();
  readonly groups = new Map<number, readonly string[]>();
  readonly checker: Checker;
  readonly violations: string[] = [];
  readonly counts = { crashes: 0, restarts: 0, pauses: 0, jumps: 0, bigJumps: 0, fatal: 0, leaseChecks: 0 };
  /** Machines dead for good (a replaced node): nothing restarts them before the healing phase. */
  readonly retired = new Set<string>();
  /** The run's healing phase began: faults scheduled earlier must not come back. */
  healed = false;
  /** Lease-based checks are off until then (a clock jumped beyond the drift bound). */
  leaseChecksOffUntil = Number.NEGATIVE_INFINITY;
  /** Sees every client request a node starts to serve, with the incarnation of its group there (recreation). */
  onServed: ((node: string, req: RpcRequest, inc: number | undefined) => void) | undefined;

  constructor(readonly opts: NodeSimOptions) {
    this.rng = new Prng(opts.seed);
    this.net = new SimNetwork("sim", this.sched, this.rng);
    // The Checker sees each incarnation as a group of its own (see incarnations.ts).
    this.checker = new Checker((node, key) =>
      replicaOfKey(this.replicaOn(this.hosts.get(node), groupOfKey(key)), key),
    );
    // The run's violations are this list: the core checkers' findings (election and state machine safety, log
    // matching, leader completeness, config order, halts) go in with their times, at most 20 of them so the
    // end-of-run findings (client history) still fit.
    let fromChecker = 0;
    this.checker.onViolation = (what) => {
      if (++fromChecker <= 20) this.fail(`checker: ${what}`);
    };
    const n = opts.nodes ?? 3;
    for (let i = 1; i <= n; i++) this.addHost(`n${i}`);
    const ids = [...this.hosts.keys()];
    const replicas = Math.min(opts.replicas ?? 3, ids.length);
    for (let g = 1; g <= (opts.groups ?? 3); g++) {
      const start = this.rng.int(0, ids.length);
      this.groups.set(
        g,
        Array.from({ length: replicas }, (_, k) => ids[(start + k) % ids.length]!),
      );
    }
    this.sched.afterEvent = () => this.checkLeases();
    this.net.onServe = (node, request) => this.serveTag(node, request);
  }

  /**
   * A machine with an empty disk (not started). A replacement (`joinsLater`) creates no groups on its first
   * start: it gets replicas as an operator adds them.
   */
  addHost(id: string, joinsLater = false): SimHost {
    const drift = this.opts.drift ?? 0.005;
    const clock = new SimClock(1 + (this.rng.next() * 2 - 1) * drift, this.rng.next() * 100_000);
    const disk = new SimDisk(id, this.sched, this.rng);
    disk.provision("/data");
    const host = new SimHost(id, clock, disk);
    disk.onIoError = () => {
      if (host.life !== undefined) host.life.diskError = true;
    };
    host.booted = joinsLater;
    this.hosts.set(id, host);
    return host;
  }

  fail(what: string): void {
    if (this.violations.length < 100)
      this.violations.push(`t=${Math.round(this.sched.now)} ${nameIncarnations(what)}`);
  }

  private log(line: string): void {
    this.opts.trace?.(`${this.sched.now.toFixed(3)} ${line}`);
  }

  /** The replica of `group` on `host`'s current life, if it has one. */
  replicaOn(host: SimHost | undefined, group: number): Replica | undefined {
    const life = host?.life;
    if (life === undefined) return undefined;
    // Once the node is up, only what it hosts now (a deleted group's replica stays in `replicas`).
    return life.node !== undefined ? life.node.replica(group) : life.replicas.get(group);
  }

  up(id: string): boolean {
    return this.hosts.get(id)?.life !== undefined;
  }

  /** Up but stopped (SIGSTOP) at this instant. */
  paused(id: string): boolean {
    const life = this.hosts.get(id)?.life;
    return life !== undefined && life.proc.pausedUntil > this.sched.now;
  }

  // ------------------------------------------------------------------ process lives

  /** Starts a process on the machine (PalfNode.start on its disk); the first boot creates its groups. */
  start(id: string): void {
    const host = this.hosts.get(id)!;
    if (host.life !== undefined) return;
    const proc = new Proc(`${id}#${++host.lives}`);
    const rt = new SimRuntime(this.sched, host.clock, proc, this.rng);
    const life: Life = {
      proc,
      rt,
      fs: host.disk.view(proc),
      transport: this.net.attach(id, proc),
      node: undefined,
      replicas: new Map(),
      fatal: false,
      diskError: false,
      stopping: false,
    };
    host.life = life;
    this.log(`start ${proc.name}`);
    this.sched.at(
      this.sched.now,
      () => {
        PalfNode.start({
          nodeId: id,
          dataDir: `/data/${id}`,
          transport: life.transport,
          log: silent,
          shards: this.opts.shards ?? 2,
          segmentBytes: this.opts.segmentBytes ?? 16 * 1024,
          ...(this.opts.diskBudgetBytes ? { diskBudgetBytes: this.opts.diskBudgetBytes } : {}),
          appendTimeoutMs: 3000,
          replica: {
            lease: SIM_LEASE,
            ...(this.opts.replicaUnsafe ? { unsafe: this.opts.replicaUnsafe } : {}),
            retransmitMs: 200,
            prepareTimeoutMs: 500,
            maxGroupEntryBytes: 2048,
            maxPushBytes: 8192,
            ...(this.opts.commitInfoDelayMs !== undefined
              ? { commitInfoDelayMs: this.opts.commitInfoDelayMs }
              : {}),
          },
          runtime: rt,
          fs: life.fs,
          ...(this.opts.unsafe ? { unsafe: this.opts.unsafe } : {}),
          onFatal: (err) => this.onFatal(host, life, err),
          inspect: {
            event: (group, e, r) => this.onReplicaEvent(host, life, group, e, r),
            result: (group, res, r) => this.onReplicaResult(host, life, group, res, r),
          },
        }).then(
          (node) => {
            if (proc.dead) return;
            life.node = node;
            if (this.opts.recoveryCheck !== false) this.checkRecovered(host, node);
            if (!host.booted) {
              host.booted = true;
              for (const [g, members] of this.groups) if (members.includes(id)) node.createGroup(g, members);
            }
            this.log(`${proc.name} serving`);
          },
          (err: Error) => {
            if (proc.dead) return;
            if (life.diskError) {
              // The injected disk error hit the start itself: the process exits; a supervisor restarts it.
              this.exitLater(host, life);
              return;
            }
            this.fail(`${id} failed to start: ${err.stack ?? err.message}`);
          },
        );
      },
      proc,
    );
  }

  /** kill -9 (or power loss): the node object is dropped without stop(), the disk keeps what it keeps. */
  crash(id: string): void {
    const host = this.hosts.get(id)!;
    const life = host.life;
    if (life === undefined) return;
    this.counts.crashes++;
    this.log(`crash ${life.proc.name}`);
    host.crashed = new Map();
    for (const g of this.groups.keys()) {
      const r = this.replicaOn(host, g);
      // Only a settled replica (every record it asked for reported durable) says exactly what is on disk.
      if (r === undefined || r.halted !== undefined) continue;
      const d = r.durability();
      if (!d.settled) continue;
      host.crashed.set(g, {
        end: d.end,
        lastPid: d.lastPid,
        promised: r.promisedPid,
        inc: r.inc,
      });
    }
    life.proc.dead = true;
    life.transport.closed = true;
    this.net.detach(life.transport);
    host.life = undefined;
    host.disk.crash();
    this.checker.onCrash(id);
  }

  /**
   * Graceful stop (PalfNode.stop: hand leaderships over, flush, close), then the process exits cleanly: the
   * page cache survives, so nothing is lost; a supervisor starts it again after `downMs`.
   */
  stopGracefully(id: string, downMs: number): void {
    const host = this.hosts.get(id)!;
    const life = host.life;
    if (life?.node === undefined || life.fatal || life.stopping) return;
    life.stopping = true;
    this.log(`stop ${life.proc.name}`);
    life.node.stop({ transferMs: 1000 }).then(
      () => {
        if (host.life !== life) return;
        this.log(`${life.proc.name} stopped`);
        life.proc.dead = true;
        life.transport.closed = true;
        this.net.detach(life.transport);
        host.life = undefined;
        this.sched.at(this.sched.now + downMs, () => this.restart(id));
      },
      (err: Error) => this.fail(`${id} failed to stop: ${err.stack ?? err.message}`),
    );
  }

  restart(id: string): void {
    if (this.up(id) || (this.retired.has(id) && !this.healed)) return;
    this.counts.restarts++;
    this.start(id);
  }

  /** SIGSTOP for `ms`: nothing of the process runs, its clock keeps going, then it resumes (SIGCONT). */
  pause(id: string, ms: number): void {
    const life = this.hosts.get(id)?.life;
    if (life === undefined) return;
    this.counts.pauses++;
    this.log(`pause ${life.proc.name} for ${Math.round(ms)} ms`);
    life.proc.pausedUntil = Math.max(life.proc.pausedUntil, this.sched.now + ms);
  }

  /**
   * The machine's monotonic clock jumps forward by `ms`. Up to the lease guard minus what the simulated
   * drift uses, leases stay exclusive; beyond it (`beyondBound`) a member's grant may expire early in true
   * time, so lease-based checks (two leaders with valid leases, linearizable leader reads) are off for the
   * next few lease periods. Log safety rests on pids alone and is checked throughout.
   */
  jumpClock(id: string, ms: number, beyondBound: boolean): void {
    const host = this.hosts.get(id)!;
    this.counts.jumps++;
    if (beyondBound) {
      this.counts.bigJumps++;
      this.leaseChecksOffUntil = Math.max(
        this.leaseChecksOffUntil,
        this.sched.now + 3 * SIM_LEASE.leaseMs + 1000,
      );
    }
    this.log(`clock of ${id} jumps ${Math.round(ms)} ms${beyondBound ? " (beyond the drift bound)" : ""}`);
    host.clock.jump(ms);
    host.life?.rt.clockChanged();
  }

  /** The next fdatasync on this machine's disk fails with EIO. */
  failNextSync(id: string): void {
    const host = this.hosts.get(id)!;
    if (host.life?.node === undefined) return;
    host.disk.faults.failNextSync = 1;
  }

  /** The next I/O on this machine's disk (a write, an fdatasync or a directory fsync) fails with EIO. */
  failNextIo(id: string): void {
    const host = this.hosts.get(id)!;
    if (host.life?.node === undefined) return;
    host.disk.faults.failNext = 1;
  }

  private onFatal(host: SimHost, life: Life, err: Error): void {
    if (life.proc.dead || life.fatal) return;
    life.fatal = true;
    this.counts.fatal++;
    this.log(`${life.proc.name} fatal: ${err.message}`);
    if (!life.diskError) this.fail(`${host.id} stopped on a storage failure nobody injected: ${err.message}`);
    if (this.opts.onFatal !== "stay") this.exitLater(host, life);
  }

  /** The process exits a little later (onFatal's process.exit); a supervisor restarts it after a while. */
  private exitLater(host: SimHost, life: Life): void {
    this.sched.at(this.sched.now + this.rng.next() * 200, () => {
      if (host.life !== life) return;
      this.crash(host.id);
      this.sched.at(this.sched.now + 500 + this.rng.next() * 2000, () => this.restart(host.id));
    });
  }

  // ------------------------------------------------------------------ checks

  /**
   * Durability across a restart: a replica that reported all its records durable before the crash must come
   * back with at least that log (same end, same last pid) and at least those promises. Catches a
   * runtime that reports durability too early and a recovery that forgets something.
   */
  private checkRecovered(host: SimHost, node: PalfNode): void {
    for (const [g, snap] of host.crashed) {
      const r = node.replica(g);
      const where = `${host.id} group ${incKey(g, snap.inc)}`;
      if (r === undefined) {
        if (snap.end > 0 || snap.promised > 0) this.fail(`recovery: ${where} is gone after a restart`);
        continue;
      }
      const stale = incarnationProblem(snap.inc, snap.end > 0 || snap.promised > 0, r.inc);
      if (stale !== undefined) {
        if (stale !== "") this.fail(`recovery: ${where} ${stale}`);
        continue;
      }
      if (r.log.end < snap.end || (r.log.end === snap.end && r.log.lastPid !== snap.lastPid)) {
        this.fail(
          `recovery: ${where} had made its log durable up to ${snap.end} (last pid ${snap.lastPid}) but recovered ${r.log.end} (last pid ${r.log.lastPid})`,
        );
      }
      if (r.promisedPid < snap.promised)
        this.fail(
          `recovery: ${where} had durably promised pid ${snap.promised} but recovered ${r.promisedPid}`,
        );
    }
    host.crashed = new Map();
  }

  private onReplicaEvent(host: SimHost, life: Life, group: number, e: ReplicaEvent, r: Replica): void {
    if (life.proc.dead) return;
    life.replicas.set(group, r);
    if (e.type === "role")
      this.log(
        `${life.proc.name} g${group} ${e.role} pid ${e.pid} (log ${r.log.base.lsn}..${r.log.end}, committed ${r.committedEnd})`,
      );
    if (e.type === "removed")
      this.log(`${life.proc.name} g${group} removed (config ${e.version.pid}.${e.version.seq} of ${e.by})`);
    if (e.type === "halted" && e.reason.includes("DISK_FULL")) {
      // The WAL refused a batch over its budget after LSNs were assigned: the budget is checked before.
      this.fail(
        `disk budget: ${host.id} group ${group} left service: the WAL refused a batch over its budget (${e.reason})`,
      );
      return;
    }
    if (e.type === "halted" && (life.diskError || life.fatal) && e.reason.startsWith("storage failure"))
      return;
    if (life.fatal) return;
    this.checker.onEvent(host.id, keyedEvent(e, r.inc));
  }

  private onReplicaResult(host: SimHost, life: Life, group: number, res: GroupEntryResult, r: Replica): void {
    if (life.proc.dead) return;
    life.replicas.set(group, r);
    this.checker.onResult(host.id, keyedResult(res, r.inc));
  }

  leaseChecksOn(): boolean {
    return this.sched.now >= this.leaseChecksOffUntil;
  }

  /** Two leaders with valid leases at one true instant (each judged by its own clock) break lease safety. */
  private checkLeases(): void {
    if (!this.leaseChecksOn()) return;
    this.counts.leaseChecks++;
    for (const g of this.groups.keys()) {
      let holder: string | undefined;
      let holderInc = 0;
      // Leaders of other incarnations (a recreation under way: its old and new incarnation may overlap).
      let others: Map<number, string> | undefined;
      for (const host of this.hosts.values()) {
        const life = host.life;
        if (life === undefined) continue;
        const r = this.replicaOn(host, g);
        if (r === undefined || r.role !== "leader" || !r.leaseValid(life.rt.now())) continue;
        const prev = r.inc === holderInc ? holder : others?.get(r.inc);
        if (prev !== undefined) {
          this.fail(
            `lease safety: ${prev} and ${host.id} both lead group ${incKey(g, r.inc)} with a valid lease`,
          );
          this.leaseChecksOffUntil = this.sched.now + 1000; // one report per overlap
          return;
        }
        if (holder === undefined) {
          holder = host.id;
          holderInc = r.inc;
        } else {
          others ??= new Map();
          others.set(r.inc, host.id);
        }
      }
    }
  }

  /**
   * Noted when a node starts handling an RPC: was a read served by a leader under a valid lease, and which
   * incarnation of the group served a read or an append?
   */
  private serveTag(node: string, request: Uint8Array): unknown {
    if (request[1] === undefined) return undefined;
    const req = decodeRequest(request);
    if ("bad" in req || (req.op !== "read" && req.op !== "append")) return undefined;
    const host = this.hosts.get(node)!;
    const r = this.replicaOn(host, req.group);
    this.onServed?.(node, req, r?.inc);
    if (req.op === "append") return { leaseRead: false, inc: r?.inc };
    const life = host.life;
    const leaseRead =
      life !== undefined &&
      this.leaseChecksOn() &&
      r !== undefined &&
      r.role === "leader" &&
      r.leaseValid(life.rt.now());
    return { leaseRead, inc: r?.inc };
  }

  /** Leader with a valid lease of `group` right now, if any. */
  leaderOf(group: number): string | undefined {
    for (const host of this.hosts.values()) {
      const life = host.life;
      const r = this.replicaOn(host, group);
      if (life?.node && !life.fatal && r?.role === "leader" && r.leaseValid(life.rt.now())) return host.id;
    }
    return undefined;
  }

  /** Log matching across the live replicas of every group. */
  checkLogs(): void {
    for (const g of this.groups.keys()) {
      const rs: Replica[] = [];
      for (const host of this.hosts.values()) {
        if (host.life?.fatal) continue;
        const r = this.replicaOn(host, g);
        if (r !== undefined) rs.push(r);
      }
      for (const [key, same] of byIncarnation(g, rs)) this.checker.checkLogMatching(key, same);
    }
  }

  /** Everything the disks and the network reported. */
  collectInfraViolations(): void {
    for (const host of this.hosts.values()) for (const v of host.disk.violations) this.fail(v);
    for (const v of this.net.violations) this.fail(v);
  }
}
