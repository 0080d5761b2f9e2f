import type { ChangeResult, GroupOverview, Membership } from "./membership.ts";
import { PalfError } from "./palf-error.ts";

export interface NodeMoveOptions {
  /** Groups moved at once. Default 128. */
  readonly concurrency?: number;
  /** Nodes scanned for the groups (default: the client's seed list); the new node(s) are added. */
  readonly nodes?: readonly string[];
  /** Time one group's move may take, catch-up and retries included (ms). Default 60000. */
  readonly perGroupTimeoutMs?: number;
  /** Called after each group (done or failed). */
  readonly onProgress?: (done: number, total: number) => void;
  /** Stops starting new groups; those under way finish. */
  readonly signal?: AbortSignal;
}

/** What a node replace or drain did: the final JSON line of `palfctl node replace|drain`. */
export interface NodeMoveReport {
  /** Groups that had a replica on the node when the run started. */
  readonly groups: number;
  /** Groups whose replica moved in this run. */
  readonly replaced: number;
  readonly seconds: number;
  readonly failed: ReadonlyArray<{ readonly group: number; readonly error: string }>;
}

/**
 * Replaces a dead node: every group with a replica (member or learner) on `dead` gets one on `next` and
 * loses `dead`, one change at a time per group (add, which waits until the new replica caught up, then
 * remove), many groups at once. Each step is skipped when it already holds, so running it again after an
 * interruption finishes what is left.
 */
export async function replaceNode(
  m: Membership,
  dead: string,
  next: string,
  o: NodeMoveOptions = {},
): Promise<NodeMoveReport> {
  if (dead === next) throw new PalfError("BAD_REQUEST", "the dead and the new node are the same");
  const start = m.runtime.now();
  const view = await m.overview(unique([...(o.nodes ?? m.seeds), next]));
  const work = view.groups.filter((g) => hosts(g, dead));
  return run(m, work, start, o, (g) => moveReplica(m, g, dead, next, o));
}

/**
 * Drains a live node: every group with a replica on `node` gets one on another node of `targets` (the
 * least loaded one not in the group yet) and loses the one on `node`; leadership moves off it first.
 */
export async function drainNode(
  m: Membership,
  node: string,
  targets: readonly string[],
  o: NodeMoveOptions = {},
): Promise<NodeMoveReport> {
  const candidates = targets.filter((t) => t !== node);
  if (candidates.length === 0) throw new PalfError("BAD_REQUEST", `no node to move ${node}'s replicas to`);
  const start = m.runtime.now();
  const view = await m.overview(unique([...(o.nodes ?? m.seeds), node, ...candidates]));
  const load = new Map(candidates.map((c) => [c, 0]));
  for (const g of view.groups)
    for (const h of [...g.members, ...g.learners]) if (load.has(h)) load.set(h, load.get(h)! + 1);
  const work = view.groups.filter((g) => hosts(g, node));
  const target = new Map<number, string>();
  for (const g of work) {
    const free = candidates.filter((c) => !hosts(g, c)).sort((a, b) => load.get(a)! - load.get(b)!);
    if (free[0] === undefined) continue;
    target.set(g.group, free[0]);
    load.set(free[0], load.get(free[0])! + 1);
  }
  return run(m, work, start, o, async (g) => {
    const to = target.get(g.group);
    if (to === undefined) throw new PalfError("BAD_REQUEST", `every target already hosts group ${g.group}`);
    await moveReplica(m, g, node, to, o);
  });
}

/** Moves one group's replica from `from` to `to`: a member stays a member, a learner a learner. */
async function moveReplica(
  m: Membership,
  g: GroupOverview,
  from: string,
  to: string,
  o: NodeMoveOptions,
): Promise<void> {
  const deadline = m.runtime.now() + (o.perGroupTimeoutMs ?? 60_000);
  const left = () => Math.max(1, deadline - m.runtime.now());
  const nodes = unique([...(o.nodes ?? []), to]);
  // The removal goes straight to the leader that committed the addition (see ChangeOptions.leader).
  if (g.members.includes(from)) {
    const add = g.learners.includes(to) ? "promoteLearner" : "addMember";
    const added = await m.change(g.group, { type: add, id: to }, { timeoutMs: left(), nodes });
    await m.change(
      g.group,
      { type: "removeMember", id: from },
      { timeoutMs: left(), nodes, ...leader(added) },
    );
  } else {
    const added = await m.change(g.group, { type: "addLearner", id: to }, { timeoutMs: left(), nodes });
    await m.change(
      g.group,
      { type: "removeLearner", id: from },
      { timeoutMs: left(), nodes, ...leader(added) },
    );
  }
}

async function run(
  m: Membership,
  work: readonly GroupOverview[],
  start: number,
  o: NodeMoveOptions,
  move: (g: GroupOverview) => Promise<void>,
): Promise<NodeMoveReport> {
  const failed: Array<{ group: number; error: string }> = [];
  let done = 0;
  let next = 0;
  const worker = async () => {
    while (next < work.length && !o.signal?.aborted) {
      const g = work[next++]!;
      try {
        await move(g);
      } catch (e) {
        failed.push({
          group: g.group,
          error: e instanceof PalfError ? `${e.code}: ${e.message}` : String(e),
        });
      }
      done++;
      o.onProgress?.(done, work.length);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.concurrency ?? 128) }, worker));
  const replaced = done - failed.length;
  for (const g of work.slice(next)) failed.push({ group: g.group, error: "ABORTED: not started" });
  failed.sort((a, b) => a.group - b.group);
  return {
    groups: work.length,
    replaced,
    seconds: Math.round((m.runtime.now() - start) / 100) / 10,
    failed,
  };
}

function leader(r: ChangeResult): { leader?: string } {
  return r.leader === undefined ? {} : { leader: r.leader };
}

function hosts(g: GroupOverview, node: string): boolean {
  return g.members.includes(node) || g.learners.includes(node);
}

function unique(list: readonly string[]): string[] {
  return [...new Set(list)];
}
