// Groups and their leaders across a cluster: creating groups on every node, counting leaders from the
// nodes' status, waiting until every group is led, and following leader events.
import type { PalfClient } from "@palf/client";
import { decodeLeaderEvents, type LeaderEvent, type Transport } from "@palf/transport";
import { pool } from "./async-pool.ts";
import { sleep } from "./polling.ts";

/** Node-level status fields the benches use. */
export interface NodeView {
  readonly groups: number;
  readonly leaders: number;
}

/** Each node's group and leader counts via client.status(node); a node that does not answer is absent. */
export async function leaderCounts(
  client: PalfClient,
  nodes: readonly string[],
): Promise<Map<string, NodeView>> {
  const out = new Map<string, NodeView>();
  await Promise.all(
    nodes.map(async (n) => {
      try {
        const s = (await client.status(n)) as NodeView | undefined;
        if (s) out.set(n, { groups: s.groups, leaders: s.leaders });
      } catch {
        // Not answering (killed, restarting): counts as no leaders.
      }
    }),
  );
  return out;
}

export function totalLeaders(counts: Map<string, NodeView>): number {
  let n = 0;
  for (const v of counts.values()) n += v.leaders;
  return n;
}

/** Creates groups 1..count on every node, `limit` creations at a time. */
export async function createGroups(
  client: PalfClient,
  count: number,
  nodes: readonly string[],
  limit = 64,
  onProgress?: (done: number) => void,
): Promise<void> {
  let done = 0;
  const ids = Array.from({ length: count }, (_, i) => i + 1);
  await pool(ids, limit, async (g) => {
    await client.createGroup(g, nodes);
    onProgress?.(++done);
  });
}

/** Polls until every group has a leader (sum of node leader counts); returns the time it took (ms). */
export async function waitAllLed(
  client: PalfClient,
  nodes: readonly string[],
  groups: number,
  timeoutMs: number,
  onPoll?: (led: number) => void,
): Promise<number> {
  const t0 = performance.now();
  for (;;) {
    const led = totalLeaders(await leaderCounts(client, nodes));
    onPoll?.(led);
    if (led >= groups) return performance.now() - t0;
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`only ${led} of ${groups} groups have a leader after ${Math.round(timeoutMs)} ms`);
    await sleep(100);
  }
}

/** Leader events (`events.leader`) as they arrive, with their arrival time. */
export function watchLeaders(t: Transport, on: (e: LeaderEvent, at: number) => void): () => void {
  return t.subscribe("events.leader", (_topic, payload) => {
    const at = performance.now();
    for (const e of decodeLeaderEvents(payload)) on(e, at);
  });
}
