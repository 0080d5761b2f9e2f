import { round } from "./rounding.ts";

/**
 * What each node's loop did between two nodeCounters snapshots, in counts that do not depend on how fast
 * this machine was: turns and frames per second, and per turn the groups it touched and the messages it
 * took in and sent; per committed append the peer messages it sent; elections started and won per minute.
 */
export function loopWork(
  a: Record<string, number>,
  b: Record<string, number>,
  seconds: number,
): Record<string, number> {
  const d = (k: string) => (b[k] ?? 0) - (a[k] ?? 0);
  const turns = Math.max(1, d("turns"));
  return {
    turnsPerS: round(d("turns") / seconds),
    groupsPerTurn: round(d("groupsTurned") / turns),
    messagesInPerTurn: round(d("messagesIn") / turns),
    messagesOutPerTurn: round(d("messagesOut") / turns),
    framesSentPerS: round(d("framesSent") / seconds),
    // Peer frames per loop turn: one per destination node, more only when a turn's output is cut at the size limit.
    framesPerTurn: round(d("framesSent") / turns),
    flushesPerS: round(d("walFlushes") / seconds),
    committedPerS: round(d("committed") / seconds),
    // Elections stood and leaderships won here: a steady load should start none (a storm starts thousands).
    electionsPerMin: round((d("elections") * 60) / seconds),
    leadershipsWonPerMin: round((d("leaderships") * 60) / seconds),
  };
}
