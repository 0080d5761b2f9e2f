import type { Prng } from "@palf/core";
import {
  type AppendOp,
  isAppend,
  type Operation,
  payloadKey,
  type ReadEntry,
  type ReadOp,
} from "./history.ts";

/** Test-only: one injected bug per kind, each the footprint of a real failure. Not exported from index.ts. */

export const ANOMALIES = [
  "lostWrite",
  "conflictingEntry",
  "csnBackwards",
  "duplicateSession",
  "failedSeen",
  "staleLinearizableRead",
  "inventedBytes",
  "readBeforeCall",
] as const;
export type Anomaly = (typeof ANOMALIES)[number];

type OkRead = ReadOp & { output: Extract<ReadOp["output"], { status: "ok" }> };
type Committed = AppendOp & { output: Extract<AppendOp["output"], { status: "committed" }> };

/** A copy of `ops` with one anomaly of this kind, or undefined when the history offers no place for it. */
export function injectAnomaly(ops: readonly Operation[], kind: Anomaly, rng: Prng): Operation[] | undefined {
  const out = [...ops];
  const reads = indicesWhere(ops, (op) => !isAppend(op) && op.output?.status === "ok") as number[];
  const acks = indicesWhere(ops, (op) => isAppend(op) && op.output?.status === "committed");
  const attempts = new Map<string, number>();
  for (const op of ops) if (isAppend(op)) attempts.set(key(op), (attempts.get(key(op)) ?? 0) + 1);
  const ackAt = (group: number, lsn: number) =>
    acks.find((a) => ops[a]!.group === group && (ops[a] as Committed).output.lsn === lsn);
  const setEntries = (r: number, change: (entries: ReadEntry[]) => ReadEntry[], more: object = {}) => {
    const op = ops[r] as OkRead;
    out[r] = { ...op, output: { ...op.output, entries: change([...op.output.entries]), ...more } };
  };
  // Entries a committed ack also vouches for: changing them contradicts the ack.
  const ackedEntries = reads.flatMap((r) =>
    (ops[r] as OkRead).output.entries.flatMap((e, k) =>
      ackAt(ops[r]!.group, e.lsn) === undefined ? [] : [{ r, k }],
    ),
  );

  switch (kind) {
    case "lostWrite": {
      const t = pick(rng, ackedEntries);
      if (t === undefined) return undefined;
      setEntries(t.r, (es) => es.filter((_, k) => k !== t.k));
      return out;
    }
    case "conflictingEntry": {
      const t = pick(rng, ackedEntries);
      if (t === undefined) return undefined;
      const read = ops[t.r] as OkRead;
      const lsn = read.output.entries[t.k]!.lsn;
      const other = pick(
        rng,
        acks.filter((a) => ops[a]!.group === read.group && (ops[a] as Committed).output.lsn !== lsn),
      );
      if (other === undefined) return undefined;
      const payload = (ops[other] as AppendOp).input.payload;
      setEntries(t.r, (es) => es.map((x, k) => (k === t.k ? { ...x, payload } : x)));
      return out;
    }
    case "csnBackwards": {
      const t = pick(
        rng,
        ackedEntries.filter(({ r, k }) => k > 0 && (ops[r] as OkRead).output.entries.length > 1),
      );
      if (t === undefined) return undefined;
      const entries = (ops[t.r] as OkRead).output.entries;
      const { lsn } = entries[t.k]!;
      const { csn } = entries[t.k - 1]!;
      // Consistently everywhere: the only thing wrong is the order of CSNs.
      out.forEach((op, i) => {
        if (op.group !== ops[t.r]!.group) return;
        if (isAppend(op) && op.output?.status === "committed" && op.output.lsn === lsn)
          out[i] = { ...op, output: { ...op.output, csn } };
        if (!isAppend(op) && op.output?.status === "ok")
          out[i] = {
            ...op,
            output: {
              ...op.output,
              entries: op.output.entries.map((e) => (e.lsn === lsn ? { ...e, csn } : e)),
            },
          };
      });
      return out;
    }
    case "duplicateSession": {
      const b = pick(
        rng,
        acks.filter((a) => attempts.get(key(ops[a] as AppendOp)) === 1),
      );
      const a = pick(
        rng,
        acks.filter((x) => b !== undefined && x !== b && ops[x]!.group === ops[b]!.group),
      );
      if (a === undefined || b === undefined) return undefined;
      const first = ops[a] as Committed;
      const second = ops[b] as Committed;
      // The second entry becomes a retry of the first that the leader failed to recognise.
      out[b] = { ...second, input: first.input };
      reads.forEach((r) => {
        if (ops[r]!.group === second.group)
          setEntries(r, (es) =>
            es.map((e) => (e.lsn === second.output.lsn ? { ...e, payload: first.input.payload } : e)),
          );
      });
      return out;
    }
    case "failedSeen": {
      const a = pick(
        rng,
        acks.filter((x) => attempts.get(key(ops[x] as AppendOp)) === 1),
      );
      if (a === undefined) return undefined;
      out[a] = { ...(ops[a] as AppendOp), output: { status: "failed" } };
      return out;
    }
    case "staleLinearizableRead": {
      const pairs = reads.flatMap((r) => {
        const read = ops[r] as OkRead;
        if (!read.input.linearizable) return [];
        return acks
          .filter((a) => ops[a]!.group === read.group && ops[a]!.ret! < read.call)
          .map((a) => ({ r, a }));
      });
      const t = pick(rng, pairs);
      if (t === undefined) return undefined;
      const { lsn } = (ops[t.a] as Committed).output;
      const from = (ops[t.r] as OkRead).input.fromLsn;
      // A replica that answers from its log as it was before that append committed.
      setEntries(t.r, (es) => es.filter((e) => e.lsn < lsn), {
        committedEnd: lsn,
        next: Math.max(from, lsn),
      });
      return out;
    }
    case "inventedBytes": {
      const t = pick(
        rng,
        reads.flatMap((r) => (ops[r] as OkRead).output.entries.map((_, k) => ({ r, k }))),
      );
      if (t === undefined) return undefined;
      const payload = new TextEncoder().encode(`nobody wrote this ${rng.int(0, 1e9)}`);
      setEntries(t.r, (es) => es.map((x, k) => (k === t.k ? { ...x, payload } : x)));
      return out;
    }
    case "readBeforeCall": {
      const t = pick(
        rng,
        reads.flatMap((r) => (ops[r] as OkRead).output.entries.map((e) => ({ r, e }))),
      );
      if (t === undefined) return undefined;
      const late = ops[t.r]!.ret! + 1;
      const target = payloadKey(ops[t.r]!.group, t.e.payload);
      out.forEach((op, i) => {
        if (isAppend(op) && key(op) === target)
          out[i] = { ...op, call: late, ret: op.ret === undefined ? undefined : Math.max(op.ret, late) };
      });
      return out;
    }
  }
}

function key(op: AppendOp): string {
  return payloadKey(op.group, op.input.payload);
}

function indicesWhere(ops: readonly Operation[], test: (op: Operation) => boolean): number[] {
  return ops.flatMap((op, i) => (test(op) ? [i] : []));
}

function pick<T>(rng: Prng, items: readonly T[]): T | undefined {
  return items.length === 0 ? undefined : rng.pick(items);
}
