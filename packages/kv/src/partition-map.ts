import { hashSeed } from "@palf/core";
import { Packr } from "msgpackr";
import { KvError } from "./kv-error.ts";

/**
 * Which partition (PALF group) holds a key. Versioned: a map is replaced only by a higher version, and a
 * request naming a version the server does not have is refused. Keys are spread by a hash of the key.
 */
export interface PartitionMap {
  readonly version: number;
  readonly scheme: "hash";
  /** The PALF group of each partition; partition i is groups[i]. */
  readonly groups: readonly number[];
}

const packr = new Packr({ useRecords: false, moreTypes: false });
const MAP_RECORD_VERSION = 1;

/** The partition index of `key` under `map`. */
export function partitionOf(map: PartitionMap, key: string): number {
  return hashSeed(key) % map.groups.length;
}

/** Throws BAD_REQUEST unless `m` is a valid map. */
export function checkPartitionMap(m: unknown): PartitionMap {
  const o = m as Partial<PartitionMap> | null;
  if (o === null || typeof o !== "object")
    throw new KvError("BAD_REQUEST", "a partition map must be an object");
  if (!Number.isSafeInteger(o.version) || (o.version as number) < 1)
    throw new KvError("BAD_REQUEST", "a partition map's version must be a positive integer");
  if (o.scheme !== "hash")
    throw new KvError("BAD_REQUEST", `unknown partitioning scheme ${String(o.scheme)}`);
  const g = o.groups;
  if (!Array.isArray(g) || g.length === 0 || g.length > 100_000)
    throw new KvError("BAD_REQUEST", "a partition map needs 1..100000 groups");
  if (g.some((x) => !Number.isSafeInteger(x) || x < 1) || new Set(g).size !== g.length)
    throw new KvError(
      "BAD_REQUEST",
      "a partition map's groups must be distinct positive group ids (0 is GTS)",
    );
  return { version: o.version as number, scheme: "hash", groups: [...g] };
}

export function encodePartitionMap(m: PartitionMap): Uint8Array {
  const packed = packr.pack([m.version, m.scheme, m.groups]);
  const out = new Uint8Array(packed.length + 1);
  out[0] = MAP_RECORD_VERSION;
  out.set(packed, 1);
  return out;
}

/** Decodes a catalog entry; undefined for anything that is not a valid map record (it is skipped). */
export function decodePartitionMap(payload: Uint8Array): PartitionMap | undefined {
  if (payload.length < 2 || payload[0] !== MAP_RECORD_VERSION) return undefined;
  try {
    const a = packr.unpack(payload.subarray(1)) as unknown;
    if (!Array.isArray(a) || a.length !== 3) return undefined;
    return checkPartitionMap({ version: a[0], scheme: a[1], groups: a[2] });
  } catch {
    return undefined;
  }
}

/**
 * The catalog's current map from its entries in log order: the highest version wins, and a later entry
 * with a version not above the current one is ignored (so replay is deterministic).
 */
export function foldCatalog(payloads: Iterable<Uint8Array>): PartitionMap | undefined {
  let cur: PartitionMap | undefined;
  for (const p of payloads) {
    const m = decodePartitionMap(p);
    if (m !== undefined && (cur === undefined || m.version > cur.version)) cur = m;
  }
  return cur;
}
