/**
 * NATS subject names of a cluster (DESIGN.md section 3), shared by both transports so the in-memory one
 * routes exactly like the real one:
 *   palf.<cluster>.node.<nodeId>.<shard>.<from>   peer traffic, batched per destination shard; <from> is
 *                                          the sender, which NATS permissions bind to its credentials
 *   palf.<cluster>.rpc.<nodeId>            client requests to one node (appends, reads, status, gts)
 *   palf.<cluster>.admin.<nodeId>          admin requests to one node (create/delete group, base, leader)
 *   palf.<cluster>.gts                     the timestamp service
 *   palf.<cluster>.events.<name>           leadership changes, CDC watermarks
 */

/** A node's id; the same string as the ReplicaId of every replica it hosts. */
export type NodeId = string;

/** A cluster-wide topic, relative to `palf.<cluster>.`; subscriptions may use NATS wildcards (`events.*`, `events.>`). */
export type Topic = "gts" | `events.${string}`;

// Restrictive on purpose: a dot, space or wildcard in a cluster or node id would silently change which
// subjects a node receives (e.g. node "a.b" would receive traffic for shard "b" of node "a").
const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws unless `name` can be one subject token (cluster and node ids). */
export function checkToken(what: string, name: string): string {
  if (!TOKEN.test(name))
    throw new Error(`${what} ${JSON.stringify(name)} must match ${TOKEN} to be a subject token`);
  return name;
}

/** Throws unless `topic` is `gts` or `events.<tokens>` (with NATS wildcards only when `pattern`). */
export function checkTopic(topic: string, pattern: boolean): string {
  if (topic === "gts") return topic;
  const [head, ...rest] = topic.split(".");
  const last = rest.length - 1;
  const tokenOk = (t: string, i: number) =>
    TOKEN.test(t) || (pattern && (t === "*" || (t === ">" && i === last)));
  if (head === "events" && rest.length > 0 && rest.every(tokenOk)) return topic;
  throw new Error(`topic ${JSON.stringify(topic)} is not "gts" or "events.<name>"`);
}

export function peerSubject(cluster: string, node: NodeId, shard: number, from: NodeId): string {
  if (!isShard(shard)) throw new Error(`shard ${shard} is not a natural number below 1e9`);
  return `palf.${cluster}.node.${node}.${shard}.${from}`;
}

/** One wildcard subscription per node receives every shard's peer traffic, from every sender. */
export function peerWildcard(cluster: string, node: NodeId): string {
  return `palf.${cluster}.node.${node}.*.*`;
}

/** Admin requests to one node; only admin credentials may publish here. */
export function adminSubject(cluster: string, node: NodeId): string {
  return `palf.${cluster}.admin.${node}`;
}

export function rpcSubject(cluster: string, node: NodeId): string {
  return `palf.${cluster}.rpc.${node}`;
}

export function topicSubject(cluster: string, topic: string): string {
  return `palf.${cluster}.${topic}`;
}

export function isShard(shard: number): boolean {
  return Number.isSafeInteger(shard) && shard >= 0 && shard < 1e9;
}

/** NATS subject matching, for the in-memory transport: `*` matches one token, a final `>` one or more. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split(".");
  const s = subject.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === ">") return i === p.length - 1 && s.length > i;
    if (i >= s.length || (p[i] !== "*" && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}
