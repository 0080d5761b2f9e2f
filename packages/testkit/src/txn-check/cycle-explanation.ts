import type { CycleKind } from "./consistency-model.ts";
import type { Edge, EdgeType } from "./dependency-graph.ts";
import type { ListAppendTxn } from "./list-append-history.ts";

/** What a cycle of this kind means, in a sentence or two. */
export function cycleMeaning(kind: CycleKind): string {
  const base = kind.replace("-realtime", "");
  const what: Record<string, string> = {
    G0: "Write cycle: the transactions' appends interleave, so no order of whole transactions installs them",
    G1c: "Circular information flow: each transaction saw or overwrote the effects of the next",
    "G-single":
      "Read skew: exactly one anti-dependency closes the cycle, so some transaction saw a state that mixes before and after another",
    "G-nonadjacent":
      "A cycle whose anti-dependencies are never adjacent, which snapshot isolation rules out (Fekete et al.)",
    G2: "Anti-dependency cycle with adjacent rw edges (write skew): allowed by snapshot isolation, not by serializability",
  };
  const rt = kind.endsWith("-realtime")
    ? " It needs real-time edges: a transaction missed the effects of one that had completed before it was invoked."
    : "";
  return `${what[base]}.${rt}`;
}

export interface Step {
  readonly from: number;
  readonly to: number;
  readonly type: EdgeType;
  readonly text: string;
}

/** Turns a cycle over graph nodes into steps between transactions, merging real-time hops. */
export function describeCycle(
  cycle: { edge: Edge; type: EdgeType }[],
  isTxn: (v: number) => boolean,
  label: (t: number) => string,
  history: readonly ListAppendTxn[],
): Step[] {
  // Rotate so the cycle starts at a transaction node.
  const start = cycle.findIndex((s) => isTxn(s.edge.from));
  const steps = [...cycle.slice(start), ...cycle.slice(0, start)];
  const out: Step[] = [];
  for (let i = 0; i < steps.length; i++) {
    const { edge, type } = steps[i]!;
    if (type !== "rt") {
      out.push({ from: edge.from, to: edge.to, type, text: explainEdge(edge, type, label) });
      continue;
    }
    let j = i;
    while (!isTxn(steps[j]!.edge.to)) j++;
    const from = edge.from;
    const to = steps[j]!.edge.to;
    const completed = history[from]!.completeMs!;
    out.push({
      from,
      to,
      type: "rt",
      text: `${label(from)} completed at ${completed} ms, before ${label(to)} was invoked at ${history[to]!.invokeMs} ms (rt)`,
    });
    i = j;
  }
  return out;
}

function explainEdge(edge: Edge, type: EdgeType, label: (t: number) => string): string {
  const why = edge.why.find((w) => w.type === type)!;
  const a = label(edge.from);
  const b = label(edge.to);
  switch (why.type) {
    case "ww":
      return why.unread
        ? `${b} committed an append of ${why.next} to key ${String(why.key)} that no read saw, so it follows ` +
            `${a}'s ${why.value}, the last element read (ww)`
        : `${b} appended ${why.next} to key ${String(why.key)} right after ${a}'s ${why.value} (ww)`;
    case "wr":
      return `${b} read key ${String(why.key)} ending in ${why.value}, which ${a} appended (wr)`;
    case "rw":
      return (
        `${a} read key ${String(why.key)} ` +
        (why.read === null ? "as empty" : `ending in ${why.read}`) +
        (why.unread
          ? `, and ${b} committed an append of ${why.next} that no read saw, so it came later (rw)`
          : `, and ${b} appended the next element ${why.next} (rw)`)
      );
    case "rt":
      return `${a} completed before ${b} was invoked (rt)`;
  }
}
