/**
 * One seed of the store simulator (`pnpm sim:kv`): store servers (the real StoreServer: replay, RPC,
 * resolver, checkpoints) and clients (the real SDK, `openKv`, reading through the servers' RPC or through an
 * in-process host) on the simulator's network and clocks, over simulated PALF groups (sim-kv-cluster.ts),
 * with the store's fault classes: store servers crashing and recovering from their checkpoints (and pausing,
 * and clock jumps), coordinators dying between prepare and decision, slow coordinators racing the resolver,
 * lost commit records, lost or failed appends, partitions between a client and some participants or store
 * servers, a CDC reader crashing and resuming from its checkpoint, and optionally a Byzantine client. Then
 * everything heals, and the seed is judged: bank and list-append (strong SI) checkers, every lock resolved,
 * the transaction-CDC order check, and replay equality of every server's state.
 */
import { hashSeed, Prng } from "@palf/core";
import {
  consultedKvSwitches,
  delay,
  type Kv,
  type KvCluster,
  type KvUnsafeSwitches,
  type KvValue,
  openKv,
  type PartitionEntry,
  type PartitionMap,
  PartitionState,
  type ReadFence,
  RemoteKvService,
  StoreServer,
  TxnCdc,
  type TxnCdcCheckpoint,
  type TxnChange,
  withKvUnsafe,
} from "@palf/kv";
import { drawCommitInfoDelayMs } from "../commit-info-delay.ts";
import type { SimNetwork, SimTransport } from "../node-sim/sim-network.ts";
import { Proc, SimClock, SimRuntime, type SimScheduler } from "../node-sim/sim-scheduler.ts";
import { checkBank } from "../txn-check/bank-check.ts";
import { checkListAppend } from "../txn-check/list-append-check.ts";
import { ByzantineKvClient } from "./byzantine-kv-client.ts";
import type { KvSimBackend, KvSimBackendKind } from "./kv-sim-backend.ts";
import { NodeKvBackend } from "./node-kv-backend.ts";
import { SimKvCluster } from "./sim-kv-cluster.ts";
import { checkTxnCdc, fingerprint, replay, unresolvedLocks } from "./store-checks.ts";
import {
  accountKey,
  BANK_ACCOUNTS,
  BANK_INITIAL,
  LIST_KEYS,
  listKey,
  runOneOp,
  StoreHistory,
} from "./store-workload.ts";

export interface KvChaosOptions {
  readonly seed: number;
  /** Store rule breaches (guard tests). */
  readonly unsafe?: Partial<KvUnsafeSwitches>;
  /** Simulated time with faults (ms). Default 8000. */
  readonly chaosMs?: number;
  readonly clients?: number;
  /** Run the Byzantine client too. */
  readonly byzantine?: boolean;
  readonly trace?: (line: string) => void;
  /** The PALF side: simulated groups (default) or real palfd nodes in the whole-node simulator. */
  readonly backend?: KvSimBackendKind;
  /** The node backend's commit-info delay (default: drawn from the seed, drawCommitInfoDelayMs). */
  readonly commitInfoDelayMs?: number;
}

export interface KvSeedReport {
  readonly seed: number;
  /** The node backend's commit-info delay (the memory backend has no replicas). */
  readonly commitInfoDelayMs?: number;
  readonly violations: string[];
  readonly committed: number;
  readonly failed: number;
  readonly indeterminate: number;
  readonly appends: number;
  readonly serverCrashes: number;
  readonly coordinatorDeaths: number;
  readonly slowCoordinators: number;
  readonly lostCommitRecords: number;
  readonly cdcDelivered: number;
  readonly cdcRestarts: number;
  readonly byzantineProbes: number;
  readonly events: number;
  readonly trace: string;
  /** The unsafe switches the code consulted while on (a guard run must consult its switch). */
  readonly consulted: readonly string[];
}

const SERVERS = ["kv1", "kv2"] as const;
const LOCK_TIMEOUT_MS = 1000;
const HEAL_MS = 12_000;

interface Life {
  readonly proc: Proc;
  readonly rt: SimRuntime;
  readonly transport: SimTransport;
}

/** One simulated store server machine: its clock, its checkpoint disk (survives crashes), its process. */
interface ServerMachine {
  readonly id: string;
  readonly clock: SimClock;
  readonly disk: Map<number, { readonly readFrom: number; readonly bytes: Uint8Array }>;
  life: (Life & { server: StoreServer }) | undefined;
  lives: number;
}

interface ClientMachine {
  readonly name: string;
  readonly clock: SimClock;
  readonly remote: boolean;
  life: (Life & { kv: Kv }) | undefined;
  lives: number;
}

/** Runs one seed; never throws for a finding (it is a violation in the report). */
export async function runKvChaos(o: KvChaosOptions): Promise<KvSeedReport> {
  return withKvUnsafe(o.unsafe ?? {}, async () => {
    const report = await new KvWorld(o).run();
    return { ...report, consulted: consultedKvSwitches() };
  });
}

class KvWorld {
  readonly rng: Prng;
  readonly sched: SimScheduler;
  readonly net: SimNetwork;
  readonly map: PartitionMap;
  readonly backend: KvSimBackend;
  /** Checkpoints servers restarted from, checked against a replay of the log at the end. */
  private readonly recovered: Array<{ server: string; p: number; readFrom: number; fingerprint: string }> =
    [];
  readonly history = new StoreHistory();
  readonly violations: string[] = [];
  readonly counts = { serverCrashes: 0, coordinatorDeaths: 0, slowCoordinators: 0, cdcRestarts: 0 };
  readonly servers: ServerMachine[];
  readonly clients: ClientMachine[];
  readonly chaosMs: number;
  readonly readFence: ReadFence;
  /** The physical step of GTS (ms): the coarser, the longer a burst keeps CSNs ahead of GTS. */
  readonly gtsTickMs: number;
  /** The faults phase is over: nothing new breaks. */
  healed = false;
  /** Clients start no new operation. */
  stopping = false;
  readonly delivered: TxnChange[] = [];
  private cdcCheckpoint: TxnCdcCheckpoint | undefined;
  private cdcLife: { proc: Proc; cdc: TxnCdc } | undefined;
  private cdcLives = 0;
  private readonly byzantine: ByzantineKvClient | undefined;

  constructor(readonly o: KvChaosOptions) {
    this.rng = new Prng(o.seed);
    const partitions = this.rng.int(2, 5);
    const groups = Array.from({ length: partitions }, (_, i) => 1 + i);
    this.gtsTickMs = this.rng.pick([1, 10, 100]);
    this.backend =
      o.backend === "node"
        ? new NodeKvBackend(o.seed, groups, o.commitInfoDelayMs ?? drawCommitInfoDelayMs(o.seed))
        : new SimKvCluster(this.rng, groups, this.gtsTickMs);
    this.sched = this.backend.sched;
    this.net = this.backend.net;
    this.map = { version: 1, scheme: "hash", groups };
    this.chaosMs = o.chaosMs ?? 8000;
    const fence = this.rng.pick(["watermark", "append", "both"] as const);
    // Real palfd nodes answer fences themselves: the leader-answered fence (which keeps the watermark
    // stream too) stands in for the plain one there; the draw is the same, so memory seeds are unchanged.
    this.readFence = o.backend === "node" && fence === "watermark" ? "leader" : fence;
    const clock = () => new SimClock(1 + (this.rng.next() * 2 - 1) * 0.005, this.rng.next() * 100_000);
    this.servers = SERVERS.map((id) => ({ id, clock: clock(), disk: new Map(), life: undefined, lives: 0 }));
    this.clients = Array.from({ length: o.clients ?? 4 }, (_, i) => ({
      name: `c${i + 1}`,
      clock: clock(),
      remote: i % 2 === 0,
      life: undefined,
      lives: 0,
    }));
    this.byzantine = o.byzantine ? new ByzantineKvClient(this, new Prng(o.seed * 31 + 7)) : undefined;
  }

  fail(what: string): void {
    if (this.violations.length < 100) this.violations.push(`t=${Math.round(this.sched.now)} ${what}`);
  }

  log(line: string): void {
    this.o.trace?.(`${this.sched.now.toFixed(3)} ${line}`);
  }

  /** A process's runtime: its clock, and randomness of its own (derived from the seed and its name). */
  runtime(clock: SimClock, proc: Proc): SimRuntime {
    return new SimRuntime(this.sched, clock, proc, new Prng(hashSeed(proc.name, this.o.seed)));
  }

  life(name: string, clock: SimClock, lives: number): Life {
    const proc = new Proc(`${name}#${lives}`);
    return { proc, rt: this.runtime(clock, proc), transport: this.net.attach(name, proc) };
  }

  private kill(life: Life): void {
    life.proc.dead = true;
    life.transport.closed = true;
    this.net.detach(life.transport);
  }

  // ------------------------------------------------------------------ store servers

  startServer(m: ServerMachine): void {
    if (m.life !== undefined) return;
    const life = this.life(m.id, m.clock, ++m.lives);
    const restored = new Map<number, { state: PartitionState; readFrom: number }>();
    for (const [p, ck] of m.disk) {
      const state = PartitionState.restore(ck.bytes);
      // A recovered server must be where a replay of the log to the same point is (checked at the end).
      this.recovered.push({ server: m.id, p, readFrom: ck.readFrom, fingerprint: fingerprint(state) });
      restored.set(p, { state, readFrom: ck.readFrom });
    }
    this.log(`start ${life.proc.name} (checkpoints of partitions ${[...restored.keys()].join(",")})`);
    const server = new StoreServer({
      id: m.id,
      cluster: this.backend.view(life.proc, life.rt, life.transport),
      transport: life.transport,
      map: this.map,
      runtime: life.rt,
      checkpoints: {
        save: (p, readFrom, bytes) => {
          m.disk.set(p, { readFrom, bytes: Uint8Array.from(bytes) });
        },
      },
      restored,
      checkpointEveryMs: 1500,
      host: {
        readFence: this.readFence,
        lockTimeoutMs: LOCK_TIMEOUT_MS,
        resolveEveryMs: 500,
        waitTimeoutMs: 5000,
      },
    });
    m.life = { ...life, server };
  }

  crashServer(m: ServerMachine): void {
    if (m.life === undefined) return;
    this.counts.serverCrashes++;
    this.log(`crash ${m.life.proc.name}`);
    this.kill(m.life);
    m.life = undefined;
    this.sched.at(this.sched.now + 200 + this.rng.next() * 2500, () => this.startServer(m));
  }

  // ------------------------------------------------------------------ clients

  async startClient(c: ClientMachine): Promise<void> {
    if (c.life !== undefined) return;
    const life = this.life(c.name, c.clock, ++c.lives);
    const cluster: KvCluster = this.backend.view(life.proc, life.rt, life.transport);
    const kv = await openKv({
      cluster,
      map: this.map,
      runtime: life.rt,
      txnIdPrefix: life.proc.name,
      maxAttempts: 3,
      ...(c.remote
        ? {
            service: new RemoteKvService(life.transport, {
              servers: [...SERVERS],
              requestTimeoutMs: 6000,
              mapVersion: this.map.version,
            }),
          }
        : {
            host: {
              readFence: this.readFence,
              lockTimeoutMs: LOCK_TIMEOUT_MS,
              resolveEveryMs: 0,
              waitTimeoutMs: 5000,
            },
          }),
      afterPrepare: (txnId) => this.afterPrepare(c, life, txnId),
    });
    c.life = { ...life, kv };
    const rng = new Prng(this.o.seed * 7919 + c.name.charCodeAt(1) * 131 + c.lives);
    const client = { name: life.proc.name, kv, rng, now: () => this.sched.now };
    // The client's loop: one operation after another, a short think time between them.
    const loop = async () => {
      while (!this.stopping && !life.proc.dead) {
        await runOneOp(client, this.history);
        await delay(life.rt, rng.next() * 20);
      }
    };
    this.sched.at(this.sched.now, () => void loop(), life.proc);
  }

  /** Between a coordinator's prepares and its decision: it may die there, or stall past the lock timeout. */
  private afterPrepare(c: ClientMachine, life: Life, txnId: string): Promise<void> | void {
    if (this.healed || life.proc.dead) return;
    const r = this.rng.next();
    if (r < 0.04) {
      this.counts.coordinatorDeaths++;
      this.log(`coordinator ${life.proc.name} dies after preparing ${txnId}`);
      this.crashClient(c);
      return new Promise<void>(() => undefined);
    }
    if (r < 0.1) {
      this.counts.slowCoordinators++;
      this.log(`coordinator ${life.proc.name} stalls after preparing ${txnId}`);
      return delay(life.rt, LOCK_TIMEOUT_MS * (1 + this.rng.next() * 2));
    }
  }

  crashClient(c: ClientMachine): void {
    if (c.life === undefined) return;
    this.log(`crash ${c.life.proc.name}`);
    this.kill(c.life);
    c.life = undefined;
    this.sched.at(this.sched.now + 100 + this.rng.next() * 1000, () => {
      if (!this.stopping) void this.startClient(c);
    });
  }

  // ------------------------------------------------------------------ transaction CDC

  private startCdc(): void {
    if (this.cdcLife !== undefined) return;
    const { proc, rt, transport } = this.life("cdc", new SimClock(1, 0), ++this.cdcLives);
    const cdc = new TxnCdc(this.backend.view(proc, rt, transport), rt, this.map, {
      readFence: this.readFence,
      pollMs: 20,
      waitTimeoutMs: 5000,
      ...(this.cdcCheckpoint !== undefined ? { from: this.cdcCheckpoint } : {}),
    });
    this.cdcLife = { proc, cdc };
    const read = async () => {
      try {
        for await (const t of cdc) {
          if (proc.dead) return;
          this.delivered.push(t);
          // A consumer that records its position with each transaction it applies.
          this.cdcCheckpoint = cdc.checkpoint();
        }
      } catch (e) {
        if (!proc.dead) this.fail(`cdc: the reader failed: ${(e as Error).stack ?? String(e)}`);
      }
    };
    this.sched.at(this.sched.now, () => void read(), proc);
  }

  private crashCdc(): void {
    const l = this.cdcLife;
    if (l === undefined) return;
    this.counts.cdcRestarts++;
    this.log(`crash ${l.proc.name}`);
    l.proc.dead = true;
    this.cdcLife = undefined;
    this.sched.at(this.sched.now + 100 + this.rng.next() * 1000, () => this.startCdc());
  }

  // ------------------------------------------------------------------ faults

  private scheduleFaults(): void {
    const intensity = 0.5 + this.rng.next();
    const step = () => {
      if (this.healed) return;
      this.injectOne();
      this.sched.at(this.sched.now + (100 + this.rng.next() * 500) / intensity, step);
    };
    this.sched.at(this.sched.now + 200, step);
  }

  private injectOne(): void {
    const rng = this.rng;
    const later = (ms: number, fn: () => void) =>
      this.sched.at(this.sched.now + ms, () => {
        if (!this.healed) fn();
      });
    switch (rng.int(0, 10)) {
      case 0:
        this.crashServer(rng.pick(this.servers));
        break;
      case 1: {
        const m = rng.pick(this.servers);
        if (m.life !== undefined) m.life.proc.pausedUntil = this.sched.now + rng.next() * 2500;
        break;
      }
      case 2: {
        const m = rng.pick(this.servers);
        m.clock.jump(rng.next() * 3000);
        m.life?.rt.clockChanged();
        break;
      }
      case 3: {
        // A partition between a client and some participants (their groups' leaders).
        const c = rng.pick(this.clients);
        if (c.life === undefined) break;
        const groups = this.map.groups.filter(() => rng.chance(0.5));
        this.log(`cut ${c.life.proc.name} from groups ${groups.join(",")}`);
        this.backend.cutOff(c.life.proc, c.life.transport, groups, 300 + rng.next() * 3000);
        break;
      }
      case 4: {
        // A partition between a client and a store server.
        const c = rng.pick(this.clients);
        const s = rng.pick(this.servers);
        const links = [`${c.name}>${s.id}`, `${s.id}>${c.name}`];
        for (const l of links) this.net.faults.blocked.add(l);
        later(300 + rng.next() * 3000, () => {
          for (const l of links) this.net.faults.blocked.delete(l);
        });
        break;
      }
      case 5:
      case 8:
      case 9:
        // The PALF side's own faults (palfd crashes, disks, network; or append faults and fence bursts).
        this.backend.injectFault(rng, (line) => this.log(line));
        break;
      case 6:
        this.crashClient(rng.pick(this.clients));
        break;
      case 7:
        if (rng.chance(0.3)) this.crashCdc();
        break;
      default:
        break;
    }
  }

  // ------------------------------------------------------------------ the seed

  /** Runs the scheduler until `done()` or `limitMs` of simulated time. */
  private async runUntil(done: () => boolean, limitMs: number): Promise<boolean> {
    const until = this.sched.now + limitMs;
    while (!done() && this.sched.now < until) await this.sched.run(Math.min(until, this.sched.now + 100));
    return done();
  }

  /** A checker process with its own in-process host: reads at one snapshot after everything healed. */
  private async finalRead(): Promise<{ state: Map<string, KvValue | null>; snapshot: number } | undefined> {
    const { proc, rt, transport } = this.life("final", new SimClock(1, 0), 1);
    const kv = await openKv({
      cluster: this.backend.view(proc, rt, transport),
      map: this.map,
      runtime: rt,
      txnIdPrefix: "final",
      host: { readFence: "append", lockTimeoutMs: LOCK_TIMEOUT_MS, resolveEveryMs: 0, waitTimeoutMs: 20_000 },
    });
    let out: { state: Map<string, KvValue | null>; snapshot: number } | undefined;
    let error: unknown;
    const keys = [
      ...Array.from({ length: BANK_ACCOUNTS }, (_, i) => accountKey(i)),
      ...Array.from({ length: LIST_KEYS }, (_, i) => listKey(i)),
    ];
    const invokeMs = this.sched.now;
    this.sched.at(
      this.sched.now,
      () =>
        void kv
          .transact(async (tx) => {
            const state = new Map<string, KvValue | null>();
            for (const k of keys) state.set(k, await tx.get(k));
            return state;
          })
          .then(
            (r) => {
              out = { state: r.value, snapshot: r.snapshot };
              this.history.listTxns.push({
                txnId: r.txnId,
                process: "final",
                invokeMs,
                completeMs: this.sched.now,
                status: "ok",
                ops: Array.from({ length: LIST_KEYS }, (_, i) => {
                  const v = r.value.get(listKey(i)) as string | null;
                  return {
                    f: "r" as const,
                    key: listKey(i),
                    value: v === null ? null : v === "" ? [] : v.split(",").map(Number),
                  };
                }),
              });
            },
            (e) => {
              error = e;
            },
          ),
      proc,
    );
    await this.runUntil(() => out !== undefined || error !== undefined, 60_000);
    if (out === undefined)
      this.fail(`final read: ${String((error as Error)?.message ?? "no answer in 60 s")}`);
    proc.dead = true;
    return out;
  }

  async run(): Promise<KvSeedReport> {
    const onRejection = (reason: unknown) =>
      this.fail(
        `unhandled rejection: ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`,
      );
    process.on("unhandledRejection", onRejection);
    try {
      await this.runSeed();
    } catch (err) {
      this.fail(`crash: ${(err as Error).stack ?? String(err)}`);
    } finally {
      process.off("unhandledRejection", onRejection);
    }
    return this.report();
  }

  private async runSeed(): Promise<void> {
    if (!(await this.backend.start())) {
      this.fail("setup: the PALF groups did not get ready without faults");
      return;
    }
    // Setup: the bank's accounts, written once before any fault.
    const setup = this.life("setup", new SimClock(1, 0), 1);
    let ready = false;
    const setupKv = await openKv({
      cluster: this.backend.view(setup.proc, setup.rt, setup.transport),
      map: this.map,
      runtime: setup.rt,
      txnIdPrefix: "setup",
      host: { resolveEveryMs: 0 },
    });
    this.sched.at(this.sched.now, () => {
      void setupKv
        .transact(async (tx) => {
          for (let i = 0; i < BANK_ACCOUNTS; i++) tx.put(accountKey(i), String(BANK_INITIAL));
        })
        .then((r) => {
          this.history.acked.set(r.txnId, {
            commitVersion: r.commitVersion!,
            writes: new Map(
              Array.from({ length: BANK_ACCOUNTS }, (_, i) => [accountKey(i), String(BANK_INITIAL)]),
            ),
          });
          ready = true;
        });
    });
    if (!(await this.runUntil(() => ready, 20_000))) {
      this.fail("setup: the bank's accounts could not be written without faults");
      return;
    }
    this.kill(setup);
    const start = this.sched.now;
    this.log(
      `${this.map.groups.length} partitions, read fence ${this.readFence}, GTS tick ${this.gtsTickMs} ms`,
    );
    for (const m of this.servers) this.startServer(m);
    for (const c of this.clients) await this.startClient(c);
    this.startCdc();
    this.byzantine?.start();
    this.scheduleFaults();
    await this.sched.run(start + this.chaosMs);

    // Heal: no new faults, everything back up, then clients stop and the resolvers clean up.
    this.healed = true;
    this.log("heal");
    this.backend.heal();
    this.net.faults.blocked.clear();
    for (const m of this.servers) if (m.life === undefined) this.startServer(m);
    for (const m of this.servers) if (m.life !== undefined) m.life.proc.pausedUntil = 0;
    if (this.cdcLife === undefined) this.startCdc();
    await this.sched.run(this.sched.now + 1000);
    this.stopping = true;
    await this.sched.run(this.sched.now + HEAL_MS);

    const final = await this.finalRead();
    await this.checkLogs();
    if (final !== undefined) await this.judge(final);
    for (const v of await this.backend.finish()) this.fail(`palf: ${v}`);
  }

  /** Every lock resolved after healing; every live server's replicas where a replay of the log puts them. */
  private async checkLogs(): Promise<void> {
    const logs = new Map<number, readonly PartitionEntry[]>();
    // Live servers keep applying while the logs are read (simulated time passes): take their states now.
    const taken: Array<{ id: string; p: number; group: number; next: number; fingerprint: string }> = [];
    for (const m of this.servers) {
      const host = m.life?.server.host;
      if (host === undefined) continue;
      for (const p of host.partitions) {
        const r = host.replica(p);
        taken.push({ id: m.id, p, group: r.group, next: r.state.next, fingerprint: fingerprint(r.state) });
      }
    }
    for (const [p, g] of this.map.groups.entries()) {
      let atLeast = 0;
      for (const m of this.servers)
        if (m.life !== undefined) atLeast = Math.max(atLeast, m.life.server.host.replica(p).readFrom);
      for (const r of this.recovered) if (r.p === p) atLeast = Math.max(atLeast, r.readFrom);
      logs.set(g, await this.backend.entries(g, atLeast));
    }
    for (const l of unresolvedLocks(this.map.groups, (g) => logs.get(g)!)) this.fail(l);
    for (const r of this.recovered) {
      const fresh = fingerprint(replay(r.p, logs.get(this.map.groups[r.p]!)!, r.readFrom));
      if (fresh !== r.fingerprint)
        this.fail(
          `recovery: ${r.server} partition ${r.p} restored from its checkpoint at lsn ${r.readFrom} is [${r.fingerprint}], a replay of the log to there is [${fresh}]`,
        );
    }
    for (const t of taken) {
      const want = fingerprint(replay(t.p, logs.get(t.group)!, t.next));
      if (t.fingerprint !== want)
        this.fail(
          `replay: ${t.id} partition ${t.p} is [${t.fingerprint}], a replay of its log to there is [${want}]`,
        );
    }
  }

  private async judge(final: { state: Map<string, KvValue | null>; snapshot: number }): Promise<void> {
    for (const u of this.history.unclear) this.fail(`unclear error: ${u}`);
    this.byzantine?.finish();
    const balances: Record<string, number> = {};
    for (let i = 0; i < BANK_ACCOUNTS; i++) balances[accountKey(i)] = Number(final.state.get(accountKey(i)));
    const bank = checkBank({
      initialTotal: BANK_ACCOUNTS * BANK_INITIAL,
      reads: this.history.bankReads,
      finalBalances: balances,
    });
    for (const v of bank.violations.slice(0, 5)) this.fail(`bank: ${v.kind} in ${v.txnId}: ${v.detail}`);
    const la = checkListAppend(this.history.listTxns, { consistency: "strong-si", searchBudget: 200_000 });
    for (const a of la.anomalies.filter((x) => x.severity === "error").slice(0, 5))
      this.fail(`list-append: ${a.kind} (${a.txns.join(", ")}): ${a.explanation}`);
    // The change stream catches up with the final snapshot (one more round delivers what is below it).
    const ids = new Set<string>();
    const caughtUp = () => {
      for (const t of this.delivered) ids.add(t.txnId);
      const cdc = this.cdcLife?.cdc;
      return (
        cdc !== undefined &&
        cdc.frontier() >= final.snapshot &&
        [...this.history.acked.keys()].every((id) => ids.has(id))
      );
    };
    await this.runUntil(caughtUp, 20_000);
    await this.sched.run(this.sched.now + 500);
    const upTo = this.delivered.filter((t) => t.commitVersion <= final.snapshot);
    for (const v of checkTxnCdc(upTo, this.history.acked, final.state)) this.fail(v);
  }

  private report(): KvSeedReport {
    return {
      seed: this.o.seed,
      ...(this.backend instanceof NodeKvBackend ? { commitInfoDelayMs: this.backend.commitInfoDelayMs } : {}),
      violations: this.violations,
      committed: this.history.counts.committed,
      failed: this.history.counts.failed,
      indeterminate: this.history.counts.indeterminate,
      appends: this.backend.stats.appends,
      serverCrashes: this.counts.serverCrashes,
      coordinatorDeaths: this.counts.coordinatorDeaths,
      slowCoordinators: this.counts.slowCoordinators,
      lostCommitRecords: this.backend.stats.lostCommitRecords,
      cdcDelivered: this.delivered.length,
      cdcRestarts: this.counts.cdcRestarts,
      byzantineProbes: this.byzantine?.probes ?? 0,
      events: this.sched.events,
      trace: this.sched.trace.value,
      consulted: [],
    };
  }
}

export type { KvWorld };
