import { WATERMARK_GONE, type WatermarkBatch } from "./watermark-batch.ts";

/** Called for each group a batch names (any lsn but GONE) or carries. */
export type WatermarkVisit = (group: number, pid: number, lsn: number, w: number) => void;

interface NodeState {
  boot: number;
  seq: number;
  /** Groups vouched at their batch's own w: later deltas vouch the same (pid, lsn) at theirs. */
  readonly carry: Map<number, { pid: number; lsn: number }>;
}

/**
 * A reader's side of the nodes' watermark batches: applies full batches and deltas in order per node and
 * expands each into the groups it vouches for. A delta that does not extend the last batch applied from
 * its node (a batch was lost, the reader joined late, the node restarted) is dropped until the node's next
 * full batch; until then the reader gets nothing new from that node, which only delays it.
 */
export class WatermarkView {
  private readonly nodes = new Map<string, NodeState>();
  readonly stats = { applied: 0, gaps: 0 };

  /** False if the batch was dropped (it extends a batch this view does not have). */
  apply(b: WatermarkBatch, visit: WatermarkVisit): boolean {
    let s = this.nodes.get(b.node);
    if (b.base === 0) {
      s = { boot: b.boot, seq: b.seq, carry: new Map() };
      this.nodes.set(b.node, s);
    } else if (!s || s.boot !== b.boot || s.seq !== b.base) {
      this.stats.gaps++;
      return false;
    } else s.seq = b.seq;
    this.stats.applied++;
    const g = b.groups;
    const named = b.base === 0 ? undefined : new Set<number>();
    for (let i = 0; i < g.length; i += 4) {
      const group = g[i]!;
      const pid = g[i + 1]!;
      const lsn = g[i + 2]!;
      const w = g[i + 3]!;
      named?.add(group);
      if (lsn >= 0 && w === b.w) s.carry.set(group, { pid, lsn });
      else s.carry.delete(group);
      if (lsn !== WATERMARK_GONE) visit(group, pid, lsn, w);
    }
    if (named) for (const [group, c] of s.carry) if (!named.has(group)) visit(group, c.pid, c.lsn, b.w);
    return true;
  }

  /** Forgets a node (its batches start over with the next full one). */
  forget(node: string): void {
    this.nodes.delete(node);
  }
}
