/**
 * What each consistency model forbids. The anomaly names are Adya's (G0, G1a-c, G-single, G2) and
 * Elle's (G-nonadjacent, lost-update, the "-realtime" variants for cycles that need real-time edges).
 *
 * Consistency models (what counts as an error; everything else found is reported with severity "info"):
 * - every model forbids the non-cycle anomalies: G1a (aborted read), G1b (intermediate read), lost
 *   update, internal inconsistency, incompatible orders, duplicates, garbage reads;
 * - "si" forbids the cycles G0 (ww only), G1c (ww + wr), G-single (exactly one rw edge: read skew) and
 *   G-nonadjacent (several rw edges, no two of them adjacent: Fekete et al. show every cycle of an SI
 *   history has two consecutive rw edges). A G2 cycle with adjacent rw edges (write skew) is allowed;
 * - "strong-si" is SI in which a transaction sees everything that completed before it was invoked: it
 *   also forbids those cycles when they need real-time edges (G0-, G1c-, G-single- and
 *   G-nonadjacent-realtime). An rt edge T1 -> T2 says T1 committed before T2's snapshot, just as a wr
 *   edge does, so Fekete's argument carries over; G2-realtime (adjacent rw edges) is allowed;
 * - "serializable" forbids every cycle over ww, wr and rw (G2 included); real time is ignored;
 * - "strict-serializable" forbids every cycle over ww, wr, rw and rt.
 */

export type ConsistencyModel = "si" | "strong-si" | "serializable" | "strict-serializable";

export type CycleKind =
  | "G0"
  | "G1c"
  | "G-single"
  | "G-nonadjacent"
  | "G2"
  | "G0-realtime"
  | "G1c-realtime"
  | "G-single-realtime"
  | "G-nonadjacent-realtime"
  | "G2-realtime";

export type ListAppendAnomalyKind =
  | CycleKind
  /** An ok transaction read a value appended by a failed transaction. */
  | "G1a"
  /** An ok transaction read a list ending in a value its writer followed with another append to that key. */
  | "G1b"
  /** Two committed transactions read the same version of a key and both appended to it. */
  | "lost-update"
  /** Two reads of a key where neither is a prefix of the other: no single version order exists. */
  | "incompatible-order"
  /** One value appended twice to a key (the workload broke its own uniqueness rule, or the store replayed it). */
  | "duplicate-appends"
  /** A read that holds one value twice. */
  | "duplicate-elements"
  /** A read holding a value no transaction appended to that key. */
  | "garbage-read"
  /** A transaction's read disagrees with its own earlier read and appends of that key, or holds its own later append. */
  | "internal";

/** Whether `model` forbids anomalies of `kind`. */
export function forbids(model: ConsistencyModel, kind: ListAppendAnomalyKind): boolean {
  switch (kind) {
    case "G2":
      return model === "serializable" || model === "strict-serializable";
    case "G2-realtime":
      return model === "strict-serializable";
    case "G0-realtime":
    case "G-nonadjacent-realtime":
    case "G1c-realtime":
    case "G-single-realtime":
      return model === "strong-si" || model === "strict-serializable";
    default:
      return true;
  }
}
