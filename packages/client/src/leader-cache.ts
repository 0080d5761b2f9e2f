import { LRUCache } from "lru-cache";

interface Entry {
  /** The believed leader, or undefined once it was suspected. */
  leader: string | undefined;
  /** Highest proposal id seen in a leadership event for the group (-1: none). */
  pid: number;
  /** The leader came from a NOT_LEADER hint, which is newer than any event of the same pid. */
  fromHint: boolean;
  /** Index into the seed list of the next node to try while the leader is unknown. */
  guess: number;
}

/**
 * Where each group's leader is, as far as this client knows: fed by `events.leader` (ordered by proposal
 * id, so a late event never overrides a newer one) and by NOT_LEADER hints. While a group's leader is
 * unknown, `target` walks the seed list one node at a time, so each failure moves on to the next node.
 * Bounded by lru-cache: a forgotten group just starts from the seed list again.
 */
export class LeaderCache {
  private readonly entries: LRUCache<number, Entry>;
  private readonly seeds: readonly string[];

  constructor(seeds: readonly string[], max = 10_000) {
    if (seeds.length === 0) throw new Error("the seed node list is empty");
    this.seeds = [...seeds];
    this.entries = new LRUCache<number, Entry>({ max });
  }

  /** The known leader of a group, if any. */
  leader(group: number): string | undefined {
    return this.entries.get(group)?.leader;
  }

  /** Where to send a group's next request: its known leader, else the next seed node to try. */
  target(group: number): string {
    const e = this.entries.get(group);
    if (e?.leader !== undefined) return e.leader;
    return this.seeds[(e?.guess ?? 0) % this.seeds.length]!;
  }

  /** A leadership event: applies unless an event of a higher pid (or a hint at the same pid) came first. */
  onLeaderEvent(group: number, leader: string, pid: number): void {
    const e = this.entries.get(group);
    if (e === undefined) {
      this.entries.set(group, { leader, pid, fromHint: false, guess: 0 });
      return;
    }
    if (pid < e.pid || (pid === e.pid && e.fromHint)) return;
    e.leader = leader;
    e.pid = pid;
    e.fromHint = false;
  }

  /** A NOT_LEADER answer named the leader. It carries no pid, so it counts as newer than any event so far. */
  onHint(group: number, leader: string): void {
    const e = this.entry(group);
    e.leader = leader;
    e.fromHint = true;
  }

  /**
   * `node` could not serve the group (no leader there, unreachable, stopping): forget it as leader and
   * move the seed guess past it, so the next request goes somewhere else.
   */
  suspect(group: number, node: string): void {
    const e = this.entry(group);
    if (e.leader === node) e.leader = undefined;
    const at = this.seeds.indexOf(node);
    const current = e.guess % this.seeds.length;
    if (at >= 0 && at === current) e.guess = (at + 1) % this.seeds.length;
  }

  /** The seed list (read-only copy). */
  seedNodes(): readonly string[] {
    return this.seeds;
  }

  private entry(group: number): Entry {
    let e = this.entries.get(group);
    if (e === undefined) {
      e = { leader: undefined, pid: -1, fromHint: false, guess: 0 };
      this.entries.set(group, e);
    }
    return e;
  }
}
