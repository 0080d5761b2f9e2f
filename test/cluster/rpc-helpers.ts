import {
  decodeResponse,
  encodeRpc,
  isAdminOp,
  type RpcRequest,
  type RpcResponse,
  type Transport,
} from "@palf/transport";

/** One RPC to one node; transport errors come back as an error response. */
export async function rpc(
  t: Transport,
  node: string,
  req: RpcRequest,
  timeoutMs = 5000,
): Promise<RpcResponse> {
  try {
    return decodeResponse(await t.request(node, encodeRpc(req), timeoutMs, { admin: isAdminOp(req.op) }));
  } catch (err) {
    return { ok: false, error: { code: "TIMEOUT", message: (err as Error).message } };
  }
}

export async function until(
  what: string,
  cond: () => Promise<boolean> | boolean,
  ms = 60_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface GroupView {
  role: string;
  leaseValid: boolean;
  committedEnd: number;
  leader?: string;
}

export async function groupStatus(t: Transport, node: string, group: number): Promise<GroupView | undefined> {
  const res = await rpc(t, node, { op: "status", group }, 2000);
  return res.ok && res.op === "status" ? ((res.status as GroupView | null) ?? undefined) : undefined;
}

export async function leaderOf(
  t: Transport,
  nodes: readonly string[],
  group: number,
): Promise<string | undefined> {
  for (const n of nodes) {
    const s = await groupStatus(t, n, group);
    if (s?.role === "leader" && s.leaseValid) return n;
  }
  return undefined;
}
