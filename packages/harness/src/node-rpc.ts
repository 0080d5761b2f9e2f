// Node-addressed RPCs on a raw transport: one request to one named node, and a group's status there.
import {
  decodeResponse,
  encodeRpc,
  isAdminOp,
  type RpcRequest,
  type RpcResponse,
  type Transport,
} from "@palf/transport";

/** One RPC to one node; a transport error comes back as an error response (never throws). */
export async function rpc(
  t: Transport,
  node: string,
  req: RpcRequest,
  timeoutMs = 3000,
): Promise<RpcResponse> {
  try {
    return decodeResponse(await t.request(node, encodeRpc(req), timeoutMs, { admin: isAdminOp(req.op) }));
  } catch (err) {
    return { ok: false, error: { code: "TIMEOUT", message: (err as Error).message } };
  }
}

/** What a node reports for one group (the replica's status()). */
export interface GroupView {
  readonly role: string;
  readonly leaseValid: boolean;
  readonly committedEnd: number;
  readonly leader?: string;
}

export async function groupStatus(
  t: Transport,
  node: string,
  group: number,
  timeoutMs = 3000,
): Promise<GroupView | undefined> {
  const res = await rpc(t, node, { op: "status", group }, timeoutMs);
  return res.ok && res.op === "status" ? ((res.status as GroupView | null) ?? undefined) : undefined;
}

/** The node of `nodes` that leads `group` with a valid lease, if one answers so. */
export async function leaderOf(
  t: Transport,
  nodes: readonly string[],
  group: number,
  timeoutMs = 3000,
): Promise<string | undefined> {
  for (const n of nodes) {
    const s = await groupStatus(t, n, group, timeoutMs);
    if (s?.role === "leader" && s.leaseValid) return n;
  }
  return undefined;
}
