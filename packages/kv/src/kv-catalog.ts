import type { PalfClient } from "@palf/client";
import { KvError } from "./kv-error.ts";
import { checkPartitionMap, encodePartitionMap, foldCatalog, type PartitionMap } from "./partition-map.ts";

/** The catalog group's id unless told otherwise. */
export const DEFAULT_CATALOG_GROUP = 1;

/** The partition map as the catalog group's log says (its highest version); NOT_FOUND-like BAD_REQUEST if none. */
export async function readPartitionMap(
  client: PalfClient,
  catalogGroup = DEFAULT_CATALOG_GROUP,
): Promise<PartitionMap> {
  const payloads: Uint8Array[] = [];
  for await (const e of client.group(catalogGroup).entries(0)) payloads.push(e.payload);
  const m = foldCatalog(payloads);
  if (m === undefined)
    throw new KvError("BAD_REQUEST", `catalog group ${catalogGroup} holds no partition map`);
  return m;
}

export interface CreateStoreOptions {
  /** Nodes that host every group (3 or 5). */
  readonly nodes: readonly string[];
  readonly partitions: number;
  /** Group id of partition 0 (the others follow). Default catalogGroup + 1. */
  readonly firstGroup?: number;
  readonly catalogGroup?: number;
}

/**
 * Creates a store on a cluster: the catalog group, one group per partition, and map version 1 in the
 * catalog. A catalog that already holds a map is left as it is (its map is returned).
 */
export async function createStore(client: PalfClient, o: CreateStoreOptions): Promise<PartitionMap> {
  const catalog = o.catalogGroup ?? DEFAULT_CATALOG_GROUP;
  await client.createGroup(catalog, o.nodes);
  try {
    return await readPartitionMap(client, catalog);
  } catch (e) {
    if (!(e instanceof KvError)) throw e;
  }
  const first = o.firstGroup ?? catalog + 1;
  const map = checkPartitionMap({
    version: 1,
    scheme: "hash",
    groups: Array.from({ length: o.partitions }, (_, i) => first + i),
  });
  for (const g of map.groups) await client.createGroup(g, o.nodes);
  await client.group(catalog).append(encodePartitionMap(map));
  return readPartitionMap(client, catalog);
}
