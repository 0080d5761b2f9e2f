import { Prng } from "@palf/core";
import {
  DEFAULT_MAX_FRAME_BYTES,
  decodeResponse,
  encodeRpc,
  isAdminOp,
  MAX_COUNTER,
  RPC_ERROR_CODES,
} from "@palf/transport";
import type { NodeSim } from "./node-sim.ts";

/**
 * The "Byzantine client" fault class: a client that sends well-formed requests with extreme values (ids,
 * sizes, counts, pids, LSNs, CSNs) to random nodes, on both the client and admin subjects, while the usual
 * faults run. The usual checkers judge the cluster afterwards; here each answer must be a clear code, a
 * request that must be refused must not be accepted, and no reply may pass the frame limit. Requests never
 * delete, recycle or append acceptable entries to the groups the honest clients use (their history checker
 * would rightly see entries nobody it knows wrote).
 */

/** Counters (pids, LSNs, CSNs, seqs, incarnations) no node may accept: above 2^52, negative, not integers. */
const BAD_COUNTER = [MAX_COUNTER + 1, 2 ** 53 - 1, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY];
/** Group ids the WAL cannot store (a uint32 is the limit), and every bad counter. */
const BAD_GROUP = [2 ** 32, 2 ** 40, ...BAD_COUNTER];
const HUGE = [2 ** 31, 2 ** 32 - 1, MAX_COUNTER, 2 ** 53 - 1];
/** Codes a node may answer; INTERNAL (a handler threw) is a finding, not an answer. */
const CLEAR: ReadonlySet<string> = new Set(RPC_ERROR_CODES.filter((c) => c !== "INTERNAL"));

interface Probe {
  readonly req: Record<string, unknown> & { op: string };
  /** The node must refuse it (it is outside what storage and the protocol hold). */
  readonly mustRefuse: boolean;
}

/** One request with extreme values; `groups` are the honest clients' groups. */
function probe(rng: Prng, groups: readonly number[], nodes: readonly string[]): Probe {
  const real = rng.pick(groups);
  const bad = rng.pick(BAD_GROUP);
  const badCounter = rng.pick(BAD_COUNTER);
  const payload = Buffer.from([rng.int(0, 256)]);
  switch (rng.int(0, 11)) {
    case 0:
      return {
        req: { op: "append", group: real, items: [{ payload, refCsn: badCounter }] },
        mustRefuse: true,
      };
    case 1:
      return {
        req: {
          op: "append",
          group: real,
          items: [{ payload, session: { id: rng.pick(HUGE), seq: badCounter } }],
        },
        mustRefuse: true,
      };
    case 2: {
      // An append whose reply would pass the frame limit: refused before anything is appended.
      const items = Array.from({ length: rng.int(5000, 30000) }, () => ({ payload: Buffer.alloc(0) }));
      return { req: { op: "append", group: real, items }, mustRefuse: true };
    }
    case 3:
      return { req: { op: "append", group: bad, items: [{ payload }] }, mustRefuse: true };
    case 4:
      return {
        req: {
          op: "read",
          group: real,
          fromLsn: rng.pick([0, ...HUGE]),
          maxEntries: rng.pick(HUGE),
          maxBytes: rng.pick(HUGE),
        },
        mustRefuse: false,
      };
    case 5:
      return { req: { op: "read", group: bad, fromLsn: 0 }, mustRefuse: true };
    case 6:
      return {
        req: { op: "locate", group: rng.chance(0.5) ? real : bad, csn: rng.pick([...HUGE, badCounter]) },
        mustRefuse: false,
      };
    case 7:
      return { req: { op: "gts", count: rng.pick([0, ...HUGE, badCounter]) }, mustRefuse: true };
    case 8: {
      // Members listed twice, or a group id the WAL cannot store.
      const n = rng.pick(nodes);
      const twice = rng.chance(0.5);
      const members = twice ? [n, n, ...nodes.filter((m) => m !== n).slice(0, 1)] : nodes.slice(0, 3);
      return {
        req: { op: "createGroup", group: twice ? 7000 + rng.int(0, 10) : bad, members },
        mustRefuse: true,
      };
    }
    case 9:
      return {
        req: { op: rng.pick(["deleteGroup", "advanceBase"]), group: bad, lsn: rng.pick(HUGE) },
        mustRefuse: true,
      };
    case 10:
      return {
        req: { op: "transferLeader", group: real, target: rng.pick(["n9", "", "a.b", "x".repeat(80)]) },
        mustRefuse: true,
      };
    default:
      return { req: { op: "status", group: bad }, mustRefuse: true };
  }
}

/** Byzantine requests every 20-120 virtual ms from `from` until `to`; findings go to sim.fail. */
export function startByzantineClient(sim: NodeSim, seed: number, from: number, to: number): { sent: number } {
  // A stream of its own: the honest clients and the fault schedule draw exactly as without this class.
  const rng = new Prng((seed ^ 0x2545f491) >>> 0);
  const groups = [...sim.groups.keys()];
  const nodes = [...sim.hosts.keys()];
  const stats = { sent: 0 };
  for (let t = from + rng.next() * 100; t < to; t += 20 + rng.next() * 100) {
    const p = probe(rng, groups, nodes);
    const node = rng.pick(nodes);
    const admin = isAdminOp(p.req.op) && rng.chance(0.7);
    sim.sched.at(t, () => {
      stats.sent++;
      const what = `byzantine ${p.req.op} to ${node}${admin ? " (admin)" : ""}`;
      sim.net.rpc("byzantine", node, encodeRpc(p.req as never), 2000, undefined, admin).then(
        (a) => {
          if (a.reply.length > DEFAULT_MAX_FRAME_BYTES)
            sim.fail(`${what}: a ${a.reply.length}-byte reply passes the frame limit`);
          const res = decodeResponse(a.reply);
          if (!res.ok && !CLEAR.has(res.error.code))
            sim.fail(`${what}: unclear answer ${res.error.code} ${res.error.message ?? ""}`);
          if (res.ok && p.mustRefuse) sim.fail(`${what}: accepted ${JSON.stringify(p.req).slice(0, 200)}`);
        },
        // Timeouts and missing responders are what crashes and partitions do; the honest clients' checks cover them.
        () => {},
      );
    });
  }
  return stats;
}
