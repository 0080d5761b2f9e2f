// The scaffold the failover and replace benchmarks share: appends run through the client SDK (every
// acknowledged one recorded), one node is killed with SIGKILL mid-run, leader events time how long the
// groups it led were without a leader, and afterwards every acknowledged append is read back and compared.
import type { PalfClient } from "@palf/client";
import {
  type BenchCluster,
  groupStatus,
  type LoadResult,
  makePayload,
  pool,
  runLoad,
  watchLeaders,
} from "@palf/harness";
import type { Transport } from "@palf/transport";

export interface KillUnderLoadOptions {
  readonly groups: number;
  readonly size: number;
  /** Appends in flight in total. */
  readonly inflight: number;
  readonly leaseMs: number;
  readonly seconds: number;
  /** The load runs past `seconds` until finish() (the replace bench keeps it up until its replace is done). */
  readonly untilFinished?: boolean;
}

/** What a read-back found: acknowledged appends missing or holding other bytes. */
export interface LostReport {
  readonly lost: number;
  readonly checked: number;
  readonly lostExamples: string[];
}

export class KillUnderLoad {
  /** Every acknowledged append, as parallel arrays (millions of them: no object per ack). */
  readonly acks = { group: [] as number[], lsn: [] as number[], seq: [] as number[] };
  /** The groups the killed node led when it was killed. */
  readonly victimGroups = new Set<number>();
  /** Per victim group: ms from the kill to the first leader event of another node. */
  readonly reLed = new Map<number, number>();
  /** Leader changes after the kill in groups the killed node did not lead. */
  otherChanges = 0;
  /** Date.now() when the load started. */
  readonly startedAt = Date.now();
  private killedAt = 0;
  private victim = "";
  private finished = false;
  private readonly load: Promise<LoadResult>;

  private constructor(
    private readonly cluster: BenchCluster,
    private readonly probe: Transport,
    private readonly client: PalfClient,
    private readonly o: KillUnderLoadOptions,
    private readonly unwatch: () => void,
  ) {
    const { acks } = this;
    const self = this;
    this.load = runLoad(client, {
      groups: o.groups,
      size: o.size,
      loops: o.inflight,
      firstLoop: 0,
      totalLoops: o.inflight,
      measureFrom: this.startedAt,
      // Read before every append, so finish() ends an open-ended load.
      get measureTo() {
        return o.untilFinished && !self.finished
          ? Number.MAX_SAFE_INTEGER
          : self.startedAt + o.seconds * 1000;
      },
      payload: (g, seq) => makePayload(g, seq, o.size),
      onAck: (g, lsn, seq) => {
        acks.group.push(g);
        acks.lsn.push(lsn);
        acks.seq.push(seq);
      },
    });
  }

  /** Starts following leader events and the load (its client closed by finish()). */
  static async start(
    cluster: BenchCluster,
    probe: Transport,
    o: KillUnderLoadOptions,
  ): Promise<KillUnderLoad> {
    let run: KillUnderLoad | undefined;
    const unwatch = watchLeaders(probe, (e, at) => run?.onLeader(e.group, e.leader, at));
    const client = await cluster.client({
      // Many requests per group in flight: the node keeps a window of seqs per session.
      maxInFlight: o.inflight,
      // A request to the killed node waits for its timeout before the retry elsewhere: about one lease.
      requestTimeoutMs: o.leaseMs,
    });
    run = new KillUnderLoad(cluster, probe, client, o, unwatch);
    return run;
  }

  private onLeader(group: number, leader: string, at: number): void {
    if (this.killedAt === 0 || leader === this.victim) return;
    if (!this.victimGroups.has(group)) this.otherChanges++;
    else if (!this.reLed.has(group)) this.reLed.set(group, at - this.killedAt);
  }

  /** Appends acknowledged so far. */
  get acked(): number {
    return this.acks.lsn.length;
  }

  /** Notes the groups `victim` leads now: the ones whose leaderless time after kill() is measured. */
  async noteGroupsLedBy(victim: string): Promise<void> {
    const ids = Array.from({ length: this.o.groups }, (_, i) => i + 1);
    await pool(ids, 100, async (g) => {
      if ((await groupStatus(this.probe, victim, g, 2000))?.role === "leader") this.victimGroups.add(g);
    });
    this.victim = victim;
  }

  /** Kills the noted node with SIGKILL; returns performance.now() of the kill. */
  async kill(): Promise<number> {
    if (!this.victim) throw new Error("noteGroupsLedBy(node) names the node to kill first");
    this.killedAt = performance.now();
    await this.cluster.kill(this.victim);
    return this.killedAt;
  }

  /** Ends the load (at `seconds`, or now when it ran until finished), closes its client, stops watching. */
  async finish(): Promise<LoadResult> {
    this.finished = true;
    const res = await this.load;
    await this.client.close();
    this.unwatch();
    return res;
  }

  /** True when every group the killed node led sent a leader event of another node. */
  get reLedComplete(): boolean {
    return this.reLed.size === this.victimGroups.size;
  }

  /** Reads each group's log with `read` and counts the acknowledged appends missing or differing there. */
  async countLost(
    read: (group: number, needEnd: number) => Promise<Map<number, Uint8Array>>,
    o: { concurrency: number; where?: string },
  ): Promise<LostReport> {
    const { acks } = this;
    const byGroup = new Map<number, number[]>();
    for (let i = 0; i < acks.lsn.length; i++) {
      const list = byGroup.get(acks.group[i]!);
      if (list) list.push(i);
      else byGroup.set(acks.group[i]!, [i]);
    }
    let lost = 0;
    let checked = 0;
    const lostExamples: string[] = [];
    await pool([...byGroup.keys()], o.concurrency, async (g) => {
      const mine = byGroup.get(g)!;
      let needEnd = 0;
      for (const i of mine) needEnd = Math.max(needEnd, acks.lsn[i]! + 1);
      const log = await read(g, needEnd);
      for (const i of mine) {
        checked++;
        const got = log.get(acks.lsn[i]!);
        if (!got || Buffer.compare(Buffer.from(got), makePayload(g, acks.seq[i]!, this.o.size)) !== 0) {
          lost++;
          if (lostExamples.length < 5)
            lostExamples.push(
              `group ${g} lsn ${acks.lsn[i]} ${got ? "differs" : "missing"}${o.where ? ` ${o.where}` : ""}`,
            );
        }
      }
    });
    return { lost, checked, lostExamples };
  }
}
