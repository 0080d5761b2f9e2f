import type { Message } from "@palf/core";
import type { RpcRequest } from "./rpc-protocol.ts";

/**
 * Who sent a peer frame. The sender's node id is the last token of the peer subject
 * (`palf.<cluster>.node.<to>.<shard>.<from>`), and NATS permissions let each node's credentials publish
 * only subjects ending in its own id (docker/nats-roles.conf). A receiver keeps a message only when its
 * `from` is that token: a client, or another node, cannot speak for a node.
 */

/** The shard and sender named by a peer subject, or undefined when it names no valid shard or sender. */
export function peerSubjectParts(subject: string): { shard: number; from: string } | undefined {
  const tokens = subject.split(".");
  if (tokens.length !== 6) return undefined;
  const shard = tokens[4]!;
  const from = tokens[5]!;
  if (!/^\d{1,9}$/.test(shard) || !/^[A-Za-z0-9_-]{1,64}$/.test(from)) return undefined;
  return { shard: Number(shard), from };
}

/** Splits decoded messages into those `from` really sent and those claiming another sender (dropped). */
export function fromSender(messages: Message[], from: string): { kept: Message[]; forged: number } {
  let forged = 0;
  for (const m of messages) if (m.from !== from) forged++;
  if (forged === 0) return { kept: messages, forged };
  return { kept: messages.filter((m) => m.from === from), forged };
}

/**
 * Requests that change the cluster: served only on `palf.<cluster>.admin.<node>`, which NATS permissions
 * open to admin credentials alone. A client credential can append, read and take timestamps, nothing more.
 */
export const ADMIN_OPS: ReadonlySet<string> = new Set<RpcRequest["op"]>([
  "createGroup",
  "deleteGroup",
  "transferLeader",
  "advanceBase",
  "changeConfig",
]);

/** True for requests that must travel on the admin subject. */
export function isAdminOp(op: string): boolean {
  return ADMIN_OPS.has(op);
}
