/**
 * The store's "Byzantine client" fault class: a client that makes well-formed calls with extreme values
 * (keys, value sizes, transaction sizes, snapshots, LSNs, partitions, map versions, CDC checkpoints) through
 * the SDK and straight to the store servers' RPC, while the usual faults run. Each answer must be a clear
 * KvError (or a success where the call is legal), a call that must be refused must not be accepted, and the
 * usual checkers judge afterwards that nothing broke. It writes only keys of its own (`byz-`), which no
 * checked key shares.
 */
import type { Prng } from "@palf/core";
import {
  type Kv,
  type KvCluster,
  KvError,
  openKv,
  type PartitionMap,
  RemoteKvService,
  type TxnCdc,
} from "@palf/kv";
import type { SimNetwork, SimTransport } from "../node-sim/sim-network.ts";
import { type Proc, SimClock, type SimRuntime, type SimScheduler } from "../node-sim/sim-scheduler.ts";
import type { KvSimBackend } from "./kv-sim-backend.ts";

/** What the Byzantine client needs from the simulated world. */
export interface ByzantineWorld {
  readonly sched: SimScheduler;
  readonly net: SimNetwork;
  readonly backend: KvSimBackend;
  readonly map: PartitionMap;
  readonly healed: boolean;
  life(name: string, clock: SimClock, lives: number): { proc: Proc; rt: SimRuntime; transport: SimTransport };
  fail(what: string): void;
  log(line: string): void;
}

interface Probe {
  readonly what: string;
  readonly run: () => Promise<unknown>;
  /** It must be refused with this code (undefined: anything clear, success included). */
  readonly refuse?: "BAD_REQUEST";
}

const BAD_NUMBERS = [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, -(2 ** 53)];

export class ByzantineKvClient {
  probes = 0;
  private readonly findings: string[] = [];
  private kv: Kv | undefined;
  private transport: SimTransport | undefined;
  private remote: RemoteKvService | undefined;
  private cluster: KvCluster | undefined;
  /** A current GTS value (a legal snapshot). */
  private readonly now = () => this.cluster!.timestamp();

  constructor(
    private readonly w: ByzantineWorld,
    private readonly rng: Prng,
  ) {}

  start(): void {
    const { proc, rt, transport } = this.w.life("byz", new SimClock(1, 0), 1);
    this.transport = transport;
    const cluster = this.w.backend.view(proc, rt, transport);
    this.cluster = cluster;
    this.remote = new RemoteKvService(this.transport, { servers: ["kv1", "kv2"], requestTimeoutMs: 8000 });
    const loop = async () => {
      this.kv = await openKv({
        cluster,
        map: this.w.map,
        runtime: rt,
        txnIdPrefix: "byz",
        maxAttempts: 2,
        host: { resolveEveryMs: 0, waitTimeoutMs: 5000 },
      });
      while (!this.w.healed) {
        await this.one();
        await new Promise<void>((r) => rt.setTimeout(r, 100 + this.rng.next() * 400));
      }
    };
    this.w.sched.at(this.w.sched.now + 100, () => void loop(), proc);
  }

  /** Reports what it found (called once the seed is judged). */
  finish(): void {
    for (const f of this.findings.slice(0, 10)) this.w.fail(`byzantine client: ${f}`);
  }

  private async one(): Promise<void> {
    const p = this.probe();
    this.probes++;
    this.w.log(`byzantine: ${p.what}`);
    let result: unknown;
    let err: unknown;
    try {
      result = await p.run();
    } catch (e) {
      err = e;
    }
    if (err === undefined) {
      if (p.refuse !== undefined) this.findings.push(`${p.what} was accepted (${short(result)})`);
      return;
    }
    if (!(err instanceof KvError)) {
      this.findings.push(`${p.what} threw ${(err as Error)?.stack ?? String(err)} instead of a KvError`);
      return;
    }
    if (p.refuse !== undefined && err.code !== p.refuse && err.code !== "UNAVAILABLE")
      this.findings.push(`${p.what} got ${err.code} (${err.message}), not ${p.refuse}`);
  }

  private probe(): Probe {
    const rng = this.rng;
    const kv = this.kv!;
    const remote = this.remote!;
    const parts = this.w.map.groups.length;
    const key = `byz-${rng.int(0, 50)}`;
    const bad = rng.pick(BAD_NUMBERS);
    switch (rng.int(0, 14)) {
      case 0:
        return {
          what: "a key of 1025 bytes",
          run: () => kv.put("k".repeat(1025), "v"),
          refuse: "BAD_REQUEST",
        };
      case 1:
        return {
          what: "a value of 64 KiB + 1",
          run: () => kv.put(key, "v".repeat(64 * 1024 + 1)),
          refuse: "BAD_REQUEST",
        };
      case 2:
        return {
          what: "a transaction of 1001 keys",
          run: () =>
            kv.txn(async (tx) => {
              for (let i = 0; i < 1001; i++) tx.put(`byz-many-${i}`, "1");
            }),
          refuse: "BAD_REQUEST",
        };
      case 3:
        return {
          what: "a transaction of 9 values of 64 KiB (over 512 KiB)",
          run: () =>
            kv.txn(async (tx) => {
              for (let i = 0; i < 9; i++) tx.put(`byz-big-${i}`, "x".repeat(64 * 1024));
            }),
          refuse: "BAD_REQUEST",
        };
      case 4:
        return {
          what: "a transaction that touches nothing",
          run: () => kv.txn(async () => undefined),
          refuse: "BAD_REQUEST",
        };
      case 5:
        return {
          what: `an SDK read at snapshot ${bad}`,
          run: () => kv.get(key, { snapshot: bad }),
          refuse: "BAD_REQUEST",
        };
      case 6:
        return {
          what: `a server read at snapshot ${bad}`,
          run: () => remote.read(rng.int(0, parts), key, bad),
          refuse: "BAD_REQUEST",
        };
      case 7: {
        const far = rng.chance(0.5);
        const p = rng.int(0, parts);
        return {
          what: `a server read at a snapshot far ahead of GTS (${far ? "2^53 - 1" : "GTS + 1 hour"})`,
          run: async () => remote.read(p, key, far ? 2 ** 53 - 1 : (await this.now()) + 3_600_000_000),
          refuse: "BAD_REQUEST",
        };
      }
      case 8:
        return {
          what: "a server read of an unknown partition",
          run: async () => remote.read(rng.pick([parts, 2 ** 31, 2 ** 53 - 1]), key, await this.now()),
          refuse: "BAD_REQUEST",
        };
      case 9:
        return {
          what: "the outcome of a transaction at an LSN far beyond the log's end",
          run: () => remote.outcome(rng.int(0, parts), "byz-none", rng.pick([2 ** 40, 2 ** 53 - 1])),
        };
      case 10:
        return {
          what: "a scan with a huge limit and a 1 MiB start key",
          run: async () =>
            remote.scan(rng.int(0, parts), "z".repeat(1 << 20), undefined, await this.now(), 2 ** 53 - 1),
        };
      case 11:
        return {
          what: "a CDC reader resuming from a forged checkpoint",
          run: async () => {
            const forged = {
              format: 1 as const,
              commitVersion: 0,
              data: Buffer.from([0x93, 1, 2, 3]).toString("base64"),
            };
            const cdc: TxnCdc = kv.changes({ from: forged });
            await cdc.close();
          },
          refuse: "BAD_REQUEST",
        };
      case 12:
        return {
          what: "a request for partition map version 99",
          run: async () =>
            new RemoteKvService(this.transport!, {
              servers: ["kv1", "kv2"],
              mapVersion: 99,
              requestTimeoutMs: 8000,
            }).read(0, key, await this.now()),
          refuse: "BAD_REQUEST",
        };
      default:
        // Legal but extreme: the largest key, the largest value, the most keys; each must commit or fail clearly.
        return {
          what: "a transaction at every limit (1000 keys, one of 1024 bytes, one value of 64 KiB)",
          run: () =>
            kv.txn(async (tx) => {
              tx.put(`byz-${"k".repeat(1020)}`, "x".repeat(64 * 1024));
              for (let i = 0; i < 999; i++) tx.put(`byz-max-${i}`, String(i));
            }),
        };
    }
  }
}

function short(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 80)}...` : s;
}
