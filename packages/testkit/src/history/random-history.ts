import { Prng } from "@palf/core";
import { type AppendOutcome, HistoryRecorder, type Operation, type ReadOutcome } from "./history.ts";

/** Test-only: correct histories with random concurrent timing. Not exported from index.ts. */

export interface RandomHistoryOptions {
  readonly seed: number;
  readonly groups: number;
  readonly clientsPerGroup: number;
  readonly opsPerClient: number;
}

interface Planned {
  readonly client: number;
  readonly group: number;
  readonly call: number;
  /** When the client heard back; undefined = never. */
  readonly ret: number | undefined;
  /** When it took effect in the true log; undefined = never (failed, or an unknown outcome that missed). */
  readonly at: number | undefined;
  readonly kind: "append" | "read";
  readonly payload: string;
  readonly session: { readonly id: number; readonly seq: number };
  /** For appends: what the client is told. For reads: linearizable or not. */
  readonly answer: "committed" | "failed" | "indeterminate" | "none" | "linearizable" | "lagging" | "error";
  /** A retry of this session that found the first attempt: answered with that attempt's LSN. */
  readonly retryOf?: Planned;
  readonly fromLsn: number;
  outcome?: AppendOutcome | ReadOutcome;
}

interface TrueEntry {
  readonly lsn: number;
  readonly csn: number;
  readonly payload: Uint8Array;
}

/**
 * Plays clients against a correct log: each client runs one op at a time; every op that takes effect does
 * so at a random instant inside its call..return window (appends with an unknown outcome maybe never),
 * and the true log answers as of that instant. Lagging reads see an earlier committed prefix. Each group
 * ends with a full linearizable read, as the simulator does after healing.
 */
export function randomHistory(o: RandomHistoryOptions): Operation[] {
  const rng = new Prng(o.seed);
  const planned: Planned[] = [];
  let lastRet = 0;
  for (let g = 0; g < o.groups; g++)
    for (let c = 0; c < o.clientsPerGroup; c++) {
      const client = g * 1000 + c;
      let t = rng.int(0, 5);
      for (let k = 0; k < o.opsPerClient; k++) {
        const p = planOp(rng, client, g, k, t, planned);
        planned.push(p);
        t = (p.ret ?? p.call + 25) + rng.int(0, 4);
        lastRet = Math.max(lastRet, t);
      }
    }
  for (let g = 0; g < o.groups; g++)
    planned.push(readPlan(-1, g, lastRet + 10, lastRet + 11, lastRet + 10, "linearizable", 0));

  const logs = Array.from({ length: o.groups }, () => ({ entries: [] as TrueEntry[], ends: [0], csn: 0 }));
  const effects = planned.filter((p) => p.at !== undefined).sort((a, b) => a.at! - b.at!);
  for (const p of effects) {
    const log = logs[p.group]!;
    const end = log.ends[log.ends.length - 1]!;
    if (p.kind === "append") {
      // Sometimes an internal entry (StartWorking, a config change) takes LSNs between data entries.
      const lsn = end + (rng.chance(0.2) ? rng.int(1, 30) : 0);
      log.csn += rng.int(1, 4);
      log.entries.push({ lsn, csn: log.csn, payload: payloadOf(p) });
      log.ends.push(lsn + payloadOf(p).length + 8);
      p.outcome = { status: "committed", lsn, csn: log.csn };
      continue;
    }
    // A lagging replica answers from an earlier committed end, usually a recent one.
    const viewEnd =
      p.answer === "lagging" ? log.ends[Math.max(0, log.ends.length - 1 - rng.int(0, 6))]! : end;
    const from = p.fromLsn === -1 ? (rng.pick(log.entries)?.lsn ?? 0) : p.fromLsn;
    let entries = log.entries.filter((e) => e.lsn >= from && e.lsn < viewEnd);
    let next = Math.max(from, viewEnd);
    if (rng.chance(0.2) && entries.length > 1) {
      entries = entries.slice(0, rng.int(1, entries.length));
      next = entries[entries.length - 1]!.lsn + 1;
    }
    p.outcome = { status: "ok", entries, committedEnd: viewEnd, next };
    (p as { fromLsn: number }).fromLsn = from;
  }
  return record(planned);
}

function planOp(rng: Prng, client: number, group: number, k: number, t: number, done: Planned[]): Planned {
  const dur = rng.int(1, 20);
  const at = t + rng.int(0, dur + 1);
  if (rng.chance(0.4)) {
    const answer = rng.chance(0.05) ? "error" : rng.chance(0.5) ? "linearizable" : "lagging";
    const from = rng.chance(0.3) ? 0 : -1;
    return readPlan(client, group, t, t + dur, answer === "error" ? undefined : at, answer, from);
  }
  const previous = done[done.length - 1];
  // After an unknown outcome the client may retry the same session; the leader recognises it if it took.
  if (previous?.client === client && (previous.answer === "indeterminate" || previous.answer === "none")) {
    if (rng.chance(0.5)) {
      const took = previous.at !== undefined;
      return {
        ...previous,
        call: t,
        ret: t + dur,
        answer: "committed",
        at: took ? undefined : at,
        ...(took ? { retryOf: previous } : {}),
      };
    }
  }
  const roll = rng.next();
  const answer = roll < 0.75 ? "committed" : roll < 0.83 ? "failed" : roll < 0.93 ? "indeterminate" : "none";
  const effect = answer === "committed" || (answer !== "failed" && rng.chance(0.5));
  return {
    client,
    group,
    call: t,
    ret: answer === "none" ? undefined : t + dur,
    at: effect ? at : undefined,
    kind: "append",
    payload: `g${group}/c${client}/${k}`,
    session: { id: client, seq: k },
    answer,
    fromLsn: 0,
  };
}

function readPlan(
  client: number,
  group: number,
  call: number,
  ret: number,
  at: number | undefined,
  answer: Planned["answer"],
  fromLsn: number,
): Planned {
  return {
    client,
    group,
    call,
    ret,
    at,
    kind: "read",
    payload: "",
    session: { id: 0, seq: 0 },
    answer,
    fromLsn,
  };
}

const encoder = new TextEncoder();
function payloadOf(p: Planned): Uint8Array {
  return encoder.encode(p.payload);
}

/** Feeds the plan to a recorder in call order, as the simulator would. */
function record(planned: Planned[]): Operation[] {
  const r = new HistoryRecorder();
  for (const p of [...planned].sort((a, b) => a.call - b.call)) {
    if (p.kind === "append") {
      const h = r.begin(
        p.client,
        p.group,
        { type: "append", payload: payloadOf(p), session: p.session },
        p.call,
      );
      if (p.ret === undefined) continue;
      const outcome = p.answer === "committed" ? (p.retryOf ?? p).outcome! : { status: p.answer };
      r.end(h, outcome as AppendOutcome, p.ret);
    } else {
      const h = r.begin(
        p.client,
        p.group,
        { type: "read", fromLsn: Math.max(0, p.fromLsn), linearizable: p.answer === "linearizable" },
        p.call,
      );
      r.end(h, (p.outcome as ReadOutcome | undefined) ?? { status: "error" }, p.ret!);
    }
  }
  return [...r.operations];
}
