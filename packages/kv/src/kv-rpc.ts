import { type Transport, TransportError } from "@palf/transport";
import { Packr } from "msgpackr";
import { KvAppendFailure } from "./kv-cluster.ts";
import { KvError, type KvErrorCode } from "./kv-error.ts";
import { MAX_PREPARE_BYTES } from "./kv-limits.ts";
import { decodeRecord } from "./kv-record.ts";
import type { KvService, LoggedOutcome, ScanItem, VersionedValue } from "./kv-service.ts";
import type { TxnView } from "./partition-state.ts";

/**
 * The store servers' request/reply protocol over the cluster's NATS (`palf.<cluster>.rpc.<serverId>`):
 * reads, scans and outcomes, each answered from the server's replayed partitions, plus a status call.
 * Every message is a version byte and a msgpack body, validated on the way in.
 */
export const KV_RPC_VERSION = 1;

export type KvRequest =
  | { readonly op: "read"; readonly partition: number; readonly key: string; readonly snapshot: number }
  | {
      readonly op: "scan";
      readonly partition: number;
      readonly start: string;
      readonly end: string | null;
      readonly snapshot: number;
      readonly limit: number;
    }
  | { readonly op: "outcome"; readonly partition: number; readonly txnId: string; readonly lsn: number }
  | {
      readonly op: "append";
      readonly partition: number;
      /** A kv record (checked: the server never appends a malformed one for a caller). */
      readonly payload: Uint8Array;
      readonly refCsn: number;
      readonly txnId: string;
    }
  | { readonly op: "appends"; readonly items: ReadonlyArray<Extract<KvRequest, { op: "append" }>> }
  | { readonly op: "reads"; readonly items: ReadonlyArray<Extract<KvRequest, { op: "read" }>> }
  | { readonly op: "status" };

/** Appends or reads in one request at most (the SDK batches those of one event-loop turn per server). */
export const MAX_BATCH = 256;

type KvReply =
  | {
      readonly ok: true;
      readonly value?: VersionedValue;
      readonly items?: ScanItem[];
      readonly txn?: TxnView | null;
      readonly at?: { readonly lsn: number; readonly csn: number };
      readonly replies?: KvReply[];
      /** A batched read met a lock at or below its snapshot: ask again with a single read (which waits). */
      readonly locked?: true;
      readonly status?: unknown;
    }
  | {
      readonly ok: false;
      readonly code: KvErrorCode;
      readonly message: string;
      /** The code of an append that did not succeed (FAILED: it will never be in the log). */
      readonly appendCode?: string;
    };

const packr = new Packr({ useRecords: false, moreTypes: false });

function encode(v: unknown): Uint8Array {
  const body = packr.pack(v);
  const out = new Uint8Array(body.length + 1);
  out[0] = KV_RPC_VERSION;
  out.set(body, 1);
  return out;
}

function decode(bytes: Uint8Array): unknown {
  if (bytes.length < 2 || bytes[0] !== KV_RPC_VERSION)
    throw new KvError("BAD_REQUEST", "not a kv rpc message of version 1");
  try {
    return packr.unpack(bytes.subarray(1));
  } catch (e) {
    throw new KvError("BAD_REQUEST", `kv rpc body does not decode: ${(e as Error).message}`);
  }
}

const nat = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

/** The partition map version a request was made for, if it says (checked by the server against its own). */
export function requestMapVersion(v: unknown): number | undefined {
  const m = (v as { mapVersion?: unknown } | null)?.mapVersion;
  if (m === undefined) return undefined;
  if (!nat(m)) throw new KvError("BAD_REQUEST", "mapVersion must be a natural number");
  return m;
}

/** Validates a request; throws BAD_REQUEST naming what is wrong. */
export function checkRequest(v: unknown): KvRequest {
  const r = v as Record<string, unknown> | null;
  if (r === null || typeof r !== "object") throw new KvError("BAD_REQUEST", "a kv request must be an object");
  const bad = (what: string) => new KvError("BAD_REQUEST", `kv ${String(r.op)} request: ${what}`);
  switch (r.op) {
    case "status":
      return { op: "status" };
    case "read":
      if (!nat(r.partition) || typeof r.key !== "string" || !nat(r.snapshot))
        throw bad("needs partition, key, snapshot");
      return { op: "read", partition: r.partition, key: r.key, snapshot: r.snapshot };
    case "scan":
      if (!nat(r.partition) || typeof r.start !== "string" || (r.end !== null && typeof r.end !== "string"))
        throw bad("needs partition, start, end");
      if (!nat(r.snapshot) || !nat(r.limit)) throw bad("needs snapshot and limit");
      return {
        op: "scan",
        partition: r.partition,
        start: r.start,
        end: r.end,
        snapshot: r.snapshot,
        limit: r.limit,
      };
    case "outcome":
      if (!nat(r.partition) || typeof r.txnId !== "string" || !nat(r.lsn))
        throw bad("needs partition, txnId, lsn");
      return { op: "outcome", partition: r.partition, txnId: r.txnId, lsn: r.lsn };
    case "append": {
      if (
        !nat(r.partition) ||
        !(r.payload instanceof Uint8Array) ||
        !nat(r.refCsn) ||
        typeof r.txnId !== "string"
      )
        throw bad("needs partition, payload, refCsn, txnId");
      if (r.payload.length > MAX_PREPARE_BYTES + 64 * 1024)
        throw bad(`payload of ${r.payload.length} bytes is too large`);
      const rec = decodeRecord(r.payload);
      if (!rec.ok) throw bad(`payload is not a kv record: ${rec.error}`);
      // A copy: the unpacked bytes share the whole incoming frame, and the replica may keep them.
      const payload = new Uint8Array(r.payload);
      return { op: "append", partition: r.partition, payload, refCsn: r.refCsn, txnId: r.txnId };
    }
    case "appends":
      return { op: "appends", items: batchItems(r.items, "append", bad) };
    case "reads":
      return { op: "reads", items: batchItems(r.items, "read", bad) };
    default:
      throw new KvError("BAD_REQUEST", `unknown kv op ${String(r.op)}`);
  }
}

/** The items of a batch request: 1 to MAX_BATCH requests, each valid and all of the one op `op`. */
function batchItems<Op extends "append" | "read">(
  items: unknown,
  op: Op,
  bad: (what: string) => KvError,
): Array<Extract<KvRequest, { op: Op }>> {
  if (!Array.isArray(items) || items.length === 0 || items.length > MAX_BATCH)
    throw bad(`needs 1 to ${MAX_BATCH} items`);
  return items.map((i: unknown) => {
    const a = checkRequest(i);
    if (a.op !== op) throw bad(`every item must be a ${op}`);
    return a as Extract<KvRequest, { op: Op }>;
  });
}

/**
 * Answers kv requests on `transport` from `service`; returns the unsubscribe function. A request made for
 * another partition map version than `mapVersion` is refused (its partition numbers mean other groups).
 */
export function serveKv(
  transport: Transport,
  service: KvService,
  status: () => unknown,
  mapVersion?: number,
): () => void {
  return transport.serve(async (bytes) => {
    let reply: KvReply;
    try {
      const body = decode(bytes);
      const r = checkRequest(body);
      const asked = requestMapVersion(body);
      if (asked !== undefined && mapVersion !== undefined && asked !== mapVersion)
        throw new KvError(
          "BAD_REQUEST",
          `unknown partition map version ${asked}: this server serves version ${mapVersion}`,
        );
      if (r.op === "read") reply = { ok: true, value: await service.read(r.partition, r.key, r.snapshot) };
      else if (r.op === "scan")
        reply = {
          ok: true,
          items: await service.scan(r.partition, r.start, r.end ?? undefined, r.snapshot, r.limit),
        };
      else if (r.op === "outcome")
        reply = { ok: true, txn: (await service.outcome(r.partition, r.txnId, r.lsn)) ?? null };
      else if (r.op === "append") reply = await answerAppend(service, r);
      else if (r.op === "reads")
        reply = { ok: true, replies: await Promise.all(r.items.map((a) => answerBatchedRead(service, a))) };
      else if (r.op === "appends")
        reply = { ok: true, replies: await Promise.all(r.items.map((a) => answerAppend(service, a))) };
      else reply = { ok: true, status: status() };
    } catch (e) {
      const code: KvErrorCode = e instanceof KvError ? e.code : "UNAVAILABLE";
      reply = { ok: false, code, message: (e as Error).message };
    }
    return encode(reply);
  });
}

async function answerAppend(service: KvService, r: Extract<KvRequest, { op: "append" }>): Promise<KvReply> {
  try {
    const o = await service.appendOutcome(r.partition, r.payload, r.refCsn, r.txnId);
    return { ok: true, at: { lsn: o.lsn, csn: o.csn }, txn: o.txn ?? null };
  } catch (e) {
    // The caller must know whether the record may be in the log: FAILED says it never will be.
    const appendCode = (e as { code?: unknown }).code;
    return {
      ok: false,
      code: "UNAVAILABLE",
      message: (e as Error).message,
      ...(typeof appendCode === "string" ? { appendCode } : {}),
    };
  }
}

async function answerBatchedRead(
  service: KvService,
  r: Extract<KvRequest, { op: "read" }>,
): Promise<KvReply> {
  try {
    if (service.readIfUnlocked === undefined)
      return { ok: true, value: await service.read(r.partition, r.key, r.snapshot) };
    const value = await service.readIfUnlocked(r.partition, r.key, r.snapshot);
    return value === undefined ? { ok: true, locked: true } : { ok: true, value };
  } catch (e) {
    const code: KvErrorCode = e instanceof KvError ? e.code : "UNAVAILABLE";
    return { ok: false, code, message: (e as Error).message };
  }
}

interface QueuedRead {
  readonly req: Extract<KvRequest, { op: "read" }>;
  readonly resolve: (v: VersionedValue) => void;
  readonly reject: (e: unknown) => void;
}

interface QueuedAppend {
  readonly req: Extract<KvRequest, { op: "append" }>;
  /** Servers that had no responder for it so far. */
  tried: number;
  readonly resolve: (o: LoggedOutcome) => void;
  readonly reject: (e: Error) => void;
}

export interface RemoteKvOptions {
  /** Store server ids; partition p asks servers[p % n] first, then the others. */
  readonly servers: readonly string[];
  /** One request at most (ms). Default 15000 (a read may wait for a lock's timeout). */
  readonly requestTimeoutMs?: number;
  /** The partition map version the caller uses; servers on another version refuse (BAD_REQUEST). */
  readonly mapVersion?: number;
}

/** KvService over NATS: the SDK's reads and outcomes answered by apps/kv servers. */
export class RemoteKvService implements KvService {
  /** Request/reply round trips to store servers and their bytes (load-independent cost figures). */
  readonly stats = { requests: 0, bytesSent: 0, bytesReceived: 0 };

  constructor(
    private readonly transport: Transport,
    private readonly o: RemoteKvOptions,
  ) {
    if (o.servers.length === 0)
      throw new KvError("BAD_REQUEST", "RemoteKvService needs at least one server id");
  }

  /** Reads of one event-loop turn to the same server travel in one request (see readsOf). */
  read(partition: number, key: string, snapshot: number): Promise<VersionedValue> {
    return new Promise((resolve, reject) => {
      const server = this.o.servers[partition % this.o.servers.length]!;
      const q = this.queuedReads.get(server);
      const r: QueuedRead = { req: { op: "read", partition, key, snapshot }, resolve, reject };
      if (q === undefined) this.queuedReads.set(server, [r]);
      else q.push(r);
      this.scheduleFlush();
    });
  }

  /** One read on its own, with the usual failover to the next server (a read can be asked again). */
  private async readOne(r: QueuedRead): Promise<void> {
    try {
      r.resolve((await this.call(r.req.partition, r.req)).value!);
    } catch (e) {
      r.reject(e);
    }
  }

  /**
   * A batch of reads to one server. Answers that met a lock, and every read of a batch that failed as a
   * whole or with UNAVAILABLE, are asked again one by one (a read that waits for the lock; failover).
   */
  private async readsOf(server: string, batch: QueuedRead[]): Promise<void> {
    if (batch.length === 1) return this.readOne(batch[0]!);
    let replies: KvReply[];
    try {
      const r = await this.ask(server, { op: "reads", items: batch.map((b) => b.req) });
      replies = r.ok && r.replies?.length === batch.length ? r.replies : [];
    } catch {
      replies = [];
    }
    batch.forEach((b, i) => {
      const x = replies[i];
      if (x?.ok && x.value !== undefined) b.resolve(x.value);
      else if (x !== undefined && !x.ok && x.code !== "UNAVAILABLE")
        b.reject(new KvError(x.code, `${server}: ${x.message}`, { partition: b.req.partition }));
      else void this.readOne(b);
    });
  }

  async scan(
    partition: number,
    start: string,
    end: string | undefined,
    snapshot: number,
    limit: number,
  ): Promise<ScanItem[]> {
    return (await this.call(partition, { op: "scan", partition, start, end: end ?? null, snapshot, limit }))
      .items!;
  }

  async outcome(partition: number, txnId: string, lsn: number): Promise<TxnView | undefined> {
    return (await this.call(partition, { op: "outcome", partition, txnId, lsn })).txn ?? undefined;
  }

  /**
   * Asks the partition's server, and the next one only when the request reached no server at all (NATS
   * "no responders"): a retry after anything else could append the record twice. Any failure but the
   * server's FAILED leaves the append's result unknown (the commit protocol settles it). The appends of
   * one event-loop turn to the same server travel in one request.
   */
  appendOutcome(
    partition: number,
    payload: Uint8Array,
    refCsn: number,
    txnId: string,
  ): Promise<LoggedOutcome> {
    return new Promise((resolve, reject) =>
      this.enqueue({ req: { op: "append", partition, payload, refCsn, txnId }, tried: 0, resolve, reject }),
    );
  }

  private readonly queued = new Map<string, QueuedAppend[]>();
  private readonly queuedReads = new Map<string, QueuedRead[]>();
  private flushScheduled = false;

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  private enqueue(a: QueuedAppend): void {
    const server = this.o.servers[(a.req.partition + a.tried) % this.o.servers.length]!;
    const q = this.queued.get(server);
    if (q === undefined) this.queued.set(server, [a]);
    else q.push(a);
    this.scheduleFlush();
  }

  private flush(): void {
    this.flushScheduled = false;
    for (const [server, q] of this.queued) {
      this.queued.delete(server);
      for (let i = 0; i < q.length; i += MAX_BATCH) void this.sendAppends(server, q.slice(i, i + MAX_BATCH));
    }
    for (const [server, q] of this.queuedReads) {
      this.queuedReads.delete(server);
      for (let i = 0; i < q.length; i += MAX_BATCH) void this.readsOf(server, q.slice(i, i + MAX_BATCH));
    }
  }

  private async sendAppends(server: string, batch: QueuedAppend[]): Promise<void> {
    let r: KvReply;
    try {
      r =
        batch.length === 1
          ? await this.ask(server, batch[0]!.req)
          : await this.ask(server, { op: "appends", items: batch.map((a) => a.req) });
    } catch (e) {
      const delivered = !(e instanceof TransportError && e.code === "noResponders");
      for (const a of batch) {
        if (!delivered && ++a.tried < this.o.servers.length) this.enqueue(a);
        else
          a.reject(
            new KvAppendFailure(delivered ? "INDETERMINATE" : "FAILED", `${server}: ${(e as Error).message}`),
          );
      }
      return;
    }
    const replies = batch.length === 1 ? [r] : r.ok ? (r.replies ?? []) : batch.map(() => r);
    if (replies.length !== batch.length) {
      for (const a of batch)
        a.reject(new KvAppendFailure("INDETERMINATE", `${server}: a reply per append missing`));
      return;
    }
    batch.forEach((a, i) => {
      const x = replies[i]!;
      // Without an append code the server refused the request before appending anything (bad request, map).
      if (!x.ok)
        a.reject(new KvAppendFailure(x.appendCode ?? "FAILED", `${server}: ${x.code}: ${x.message}`));
      else if (x.at === undefined)
        a.reject(new KvAppendFailure("INDETERMINATE", `${server}: no append position`));
      else a.resolve({ lsn: x.at.lsn, csn: x.at.csn, txn: x.txn ?? undefined });
    });
  }

  /** One server's status. */
  async status(server: string): Promise<unknown> {
    const r = decode(
      await this.transport.request(server, encode({ op: "status" }), this.o.requestTimeoutMs ?? 15_000),
    ) as KvReply;
    if (!r.ok) throw new KvError(r.code, r.message);
    return r.status;
  }

  private async call(partition: number, req: KvRequest): Promise<Extract<KvReply, { ok: true }>> {
    const n = this.o.servers.length;
    let last: unknown;
    for (let i = 0; i < n; i++) {
      const server = this.o.servers[(partition + i) % n]!;
      let r: KvReply;
      try {
        const body = encode(
          this.o.mapVersion === undefined ? req : { ...req, mapVersion: this.o.mapVersion },
        );
        this.stats.requests++;
        this.stats.bytesSent += body.length;
        const reply = await this.transport.request(server, body, this.o.requestTimeoutMs ?? 15_000);
        this.stats.bytesReceived += reply.length;
        r = decode(reply) as KvReply;
      } catch (e) {
        // No answer: try the next server (every server can replay every partition).
        last = e;
        continue;
      }
      if (r.ok) return r;
      if (r.code !== "UNAVAILABLE") throw new KvError(r.code, `${server}: ${r.message}`, { partition });
      last = new KvError(r.code, `${server}: ${r.message}`, { partition });
    }
    throw last instanceof KvError
      ? last
      : new KvError(
          "UNAVAILABLE",
          `no store server answered for partition ${partition}: ${String((last as Error)?.message ?? last)}`,
          {
            partition,
          },
        );
  }

  /** One request/reply with a server (counted). */
  private async ask(server: string, req: KvRequest): Promise<KvReply> {
    const body = encode(this.o.mapVersion === undefined ? req : { ...req, mapVersion: this.o.mapVersion });
    this.stats.requests++;
    this.stats.bytesSent += body.length;
    const reply = await this.transport.request(server, body, this.o.requestTimeoutMs ?? 15_000);
    this.stats.bytesReceived += reply.length;
    return decode(reply) as KvReply;
  }

  async close(): Promise<void> {}
}
