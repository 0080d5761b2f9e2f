import { InvalidArgumentError } from "commander";

/** A natural number below 2^53 (group ids, LSNs, CSNs, counts). */
export function parseNat(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw new InvalidArgumentError("expected a natural number below 2^53.");
  return n;
}

/** A group id: a uint32, as the WAL stores it. */
export function parseGroupId(value: string): number {
  const n = parseNat(value);
  if (n > 0xffff_ffff) throw new InvalidArgumentError("expected a group id from 0 to 4294967295 (a uint32).");
  return n;
}

/** A positive integer (limits, timeouts). */
export function parsePositive(value: string): number {
  const n = parseNat(value);
  if (n === 0) throw new InvalidArgumentError("expected a positive integer.");
  return n;
}

const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/;

/** One node id ([A-Za-z0-9_-], as a NATS subject token). */
export function parseNodeId(value: string): string {
  if (!NODE_ID.test(value)) throw new InvalidArgumentError(`node ids match ${NODE_ID}.`);
  return value;
}

/** A comma-separated list of distinct node ids, e.g. "n1,n2,n3". */
export function parseNodeList(value: string): string[] {
  const ids = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (ids.length === 0) throw new InvalidArgumentError("expected a comma-separated list of node ids.");
  for (const id of ids) parseNodeId(id);
  if (new Set(ids).size !== ids.length) throw new InvalidArgumentError("a node is listed twice.");
  return ids;
}

/** A comma-separated list of distinct group ids, e.g. "1,2,3". */
export function parseGroupList(value: string): number[] {
  const ids = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map(parseGroupId);
  if (ids.length === 0) throw new InvalidArgumentError("expected a comma-separated list of group ids.");
  if (new Set(ids).size !== ids.length) throw new InvalidArgumentError("a group is listed twice.");
  return ids;
}

/** One or more NATS URLs, comma-separated. */
export function parseServers(value: string): string[] {
  const urls = value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (urls.length === 0) throw new InvalidArgumentError("expected a NATS URL such as nats://127.0.0.1:4222.");
  for (const u of urls) {
    if (!/^(nats|tls|ws|wss):\/\/[^\s/]+/.test(u) && !/^[^\s/:]+:\d+$/.test(u))
      throw new InvalidArgumentError(`${JSON.stringify(u)} is not a NATS URL such as nats://127.0.0.1:4222.`);
  }
  return urls;
}
