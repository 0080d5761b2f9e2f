import type { GroupEntry, Message } from "@palf/core";
import { baseProblem, isLiveness, messageProblem } from "@palf/core";
import { Packr, Unpackr } from "msgpackr";
import { headerSize, numberSize, stringSize, valueSize } from "./encoded-size.ts";
import {
  CODE_OF,
  ENTRY_WIDTH,
  ENVELOPE_SLOTS,
  Kind,
  PLANS,
  type Plan,
  RUN_CODE,
  RUN_TUPLE_LENGTH,
  RUN_WIDTH,
} from "./wire-schema.ts";

/**
 * A peer frame: everything one shard sends to one peer node in one loop turn, for many groups.
 *
 *   byte 0        PEER_FRAME_VERSION
 *   bytes 1..4    head length H (uint32 big-endian)
 *   bytes 5..5+H  msgpack [strings, tuples]   (tuples and runs as in wire-schema.ts)
 *   the rest      every group entry body of the frame, concatenated in message and entry order
 *
 * Bodies sit outside msgpack because an array of many small Buffers is msgpackr's slow part: this way each
 * body is copied exactly once into the frame, and the head is a compact array of numbers. Version 2 added
 * runs (one tuple for consecutive acks or commit infos to one peer: the per-peer ack vector).
 */
export const PEER_FRAME_VERSION = 2;

/** Below NATS's default max payload (1 MiB), leaving room for the protocol line and future headroom. */
export const DEFAULT_MAX_FRAME_BYTES = 900 * 1024;

const PREFIX_BYTES = 5;
/** Prefix, the head's fixarray, and the headers of the strings and tuples arrays. */
const FRAME_OVERHEAD = PREFIX_BYTES + 1 + 5 + 5;

const packr = new Packr({ useRecords: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** A message that cannot fit in one frame even alone. Cap push and fetch-reply sizes below the frame size. */
export class FrameTooLargeError extends Error {
  constructor(
    readonly messageType: Message["type"],
    readonly group: number,
    readonly bytes: number,
    readonly maxBytes: number,
  ) {
    super(
      `${messageType} for group ${group} needs up to ${bytes} bytes, more than the ${maxBytes}-byte frame limit: ` +
        "lower the replica's maxPushBytes / maxGroupEntryBytes or raise maxFrameBytes (and the server's max_payload)",
    );
    this.name = "FrameTooLargeError";
  }
}

/**
 * Encodes messages into as few frames as fit under `maxBytes` each. Liveness messages (votes and their
 * replies) go first, so lease traffic never waits behind bulk replication, also when the batch is cut.
 * Otherwise order is kept. Throws FrameTooLargeError when one message alone cannot fit.
 */
export function encodeBatches(messages: readonly Message[], maxBytes = DEFAULT_MAX_FRAME_BYTES): Buffer[] {
  const frames: Buffer[] = [];
  let frame = new FrameBuilder();
  for (const m of livenessFirst(messages)) {
    let need = frame.sizeOf(m);
    if (frame.count > 0 && frame.bytes + need > maxBytes) {
      frames.push(frame.finish(maxBytes));
      frame = new FrameBuilder();
      need = frame.sizeOf(m);
    }
    if (frame.bytes + need > maxBytes)
      throw new FrameTooLargeError(m.type, m.group, frame.bytes + need, maxBytes);
    frame.add(m, need);
  }
  if (frame.count > 0) frames.push(frame.finish(maxBytes));
  return frames;
}

/** Stable partition: liveness messages first. Returns the input itself when it is already in that order. */
export function livenessFirst(messages: readonly Message[]): readonly Message[] {
  let seenBulk = false;
  for (const m of messages) {
    if (!isLiveness(m)) seenBulk = true;
    else if (seenBulk) {
      const live = messages.filter(isLiveness);
      for (const x of messages) if (!isLiveness(x)) live.push(x);
      return live;
    }
  }
  return messages;
}

/** The run the last tuple of a frame holds, which the next message of the same kind extends. */
interface OpenRun {
  readonly code: number;
  readonly from: string;
  readonly to: string;
  readonly flat: unknown[];
}

class FrameBuilder {
  private readonly strings: string[] = [];
  private readonly stringIds = new Map<string, number>();
  private readonly tuples: unknown[][] = [];
  private run: OpenRun | undefined;
  private readonly bodies: Uint8Array[] = [];
  private bodyBytes = 0;
  /** Upper bound of the finished frame's size. */
  bytes = FRAME_OVERHEAD;

  get count(): number {
    return this.tuples.length;
  }

  /** Upper bound of what adding `m` costs, counting node ids not yet in this frame's string table. */
  sizeOf(m: Message): number {
    const code = CODE_OF[m.type];
    const plan = PLANS[code]!;
    if (RUN_WIDTH[code] !== undefined) {
      // A run's own header (code, type, ids, the flat array's header) is paid once, by its first message.
      let size = numberSize(m.group) + numberSize(m.inc);
      if (!this.extends(m, code))
        size += headerSize(RUN_TUPLE_LENGTH) + 2 + this.idSize(m.from) + this.idSize(m.to) + 5;
      const fields = m as unknown as Record<string, unknown>;
      for (const name of plan.names) size += valueSize(fields[name]);
      return size;
    }
    let size = headerSize(plan.tupleLength) + 1 + numberSize(m.group) + numberSize(m.inc);
    size += this.idSize(m.from) + this.idSize(m.to);
    const fields = m as unknown as Record<string, unknown>;
    for (let i = 0; i < plan.names.length; i++) {
      const v = fields[plan.names[i]!];
      switch (plan.kinds[i]) {
        case Kind.id:
          size += this.idSize(v as string);
          break;
        case Kind.version: {
          const cfg = v as { pid: number; seq: number } | undefined;
          size += valueSize(cfg?.pid) + valueSize(cfg?.seq);
          break;
        }
        case Kind.entries:
          size += 5;
          for (const e of v as readonly GroupEntry[]) size += entrySize(e);
          break;
        default:
          size += valueSize(v ?? null);
      }
    }
    return size;
  }

  add(m: Message, size: number): void {
    const code = CODE_OF[m.type];
    const plan = PLANS[code]!;
    const fields = m as unknown as Record<string, unknown>;
    this.bytes += size;
    if (RUN_WIDTH[code] !== undefined) {
      if (!this.extends(m, code)) {
        this.run = { code, from: m.from, to: m.to, flat: [] };
        this.tuples.push([RUN_CODE, code, this.id(m.from), this.id(m.to), this.run.flat]);
      }
      const flat = this.run!.flat;
      flat.push(m.group, m.inc);
      for (const name of plan.names) flat.push(fields[name]);
      return;
    }
    this.run = undefined;
    const t: unknown[] = [code, m.group, m.inc, this.id(m.from), this.id(m.to)];
    for (let i = 0; i < plan.names.length; i++) {
      const v = fields[plan.names[i]!];
      switch (plan.kinds[i]) {
        case Kind.id:
          t.push(this.id(v as string));
          break;
        case Kind.version: {
          const cfg = v as { pid: number; seq: number } | undefined;
          t.push(cfg?.pid, cfg?.seq);
          break;
        }
        case Kind.entries:
          t.push(this.entries(v as readonly GroupEntry[]));
          break;
        default:
          // msgpack has no "absent": an optional field travels as null and is left out again on decode.
          t.push(v ?? null);
      }
    }
    this.tuples.push(t);
  }

  /** Whether `m` joins the run in the frame's last tuple (same type, same sender and receiver). */
  private extends(m: Message, code: number): boolean {
    const r = this.run;
    return r !== undefined && r.code === code && r.from === m.from && r.to === m.to;
  }

  finish(maxBytes: number): Buffer {
    const head = packr.pack([this.strings, this.tuples]);
    const frame = Buffer.allocUnsafe(PREFIX_BYTES + head.length + this.bodyBytes);
    frame[0] = PEER_FRAME_VERSION;
    frame.writeUInt32BE(head.length, 1);
    head.copy(frame, PREFIX_BYTES);
    let at = PREFIX_BYTES + head.length;
    for (const b of this.bodies) {
      frame.set(b, at);
      at += b.length;
    }
    // The cut relies on sizeOf being an upper bound; a frame over the limit would be refused by NATS.
    if (frame.length > maxBytes)
      throw new Error(`peer codec: size bound broken (${frame.length} > ${maxBytes})`);
    return frame;
  }

  private idSize(s: string): number {
    const known = this.stringIds.get(s);
    return known !== undefined ? numberSize(known) : 5 + stringSize(s);
  }

  private id(s: string): number {
    let id = this.stringIds.get(s);
    if (id === undefined) {
      id = this.strings.length;
      this.strings.push(s);
      this.stringIds.set(s, id);
    }
    return id;
  }

  private entries(entries: readonly GroupEntry[]): number[] {
    const flat = new Array<number>(entries.length * ENTRY_WIDTH);
    let k = 0;
    for (const e of entries) {
      flat[k++] = e.pid;
      flat[k++] = e.lsn;
      flat[k++] = e.end;
      flat[k++] = e.count;
      flat[k++] = e.maxCsn;
      flat[k++] = e.flags;
      flat[k++] = e.checksum;
      flat[k++] = e.accum;
      flat[k++] = e.committedEnd;
      flat[k++] = e.body.length;
      this.bodies.push(e.body);
      this.bodyBytes += e.body.length;
    }
    return flat;
  }
}

function entrySize(e: GroupEntry): number {
  return (
    numberSize(e.pid) +
    numberSize(e.lsn) +
    numberSize(e.end) +
    numberSize(e.count) +
    numberSize(e.maxCsn) +
    numberSize(e.flags) +
    numberSize(e.checksum) +
    numberSize(e.accum) +
    numberSize(e.committedEnd) +
    numberSize(e.body.length) +
    e.body.length
  );
}

/** Why one message (or, without `index`, the whole frame) was dropped. */
export interface Rejection {
  readonly reason: string;
  /** Position of the message's tuple (or run) in the frame; absent when the frame as a whole is unusable. */
  readonly index?: number;
}

export interface DecodedBatch {
  readonly messages: Message[];
  readonly rejected: Rejection[];
}

export interface DecodeOptions {
  /**
   * "copy" (default): every body gets its own memory, so an entry kept in a cache does not pin the whole
   * frame. "view": bodies are views into the frame; the caller must copy any body it keeps beyond the
   * handling of this frame (e.g. before it enters the entry cache).
   */
  readonly bodies?: "copy" | "view";
  /** Frames longer than this are refused unread. */
  readonly maxFrameBytes?: number;
}

/**
 * Decodes a frame and checks every message with core's messageProblem. Never throws: a frame that is not
 * structurally sound (bad version, truncated, undecodable, body lengths that do not add up) is rejected as
 * a whole; a well-formed tuple with a bad field is rejected alone and the rest of the frame is kept.
 */
export function decodeFrame(frame: Uint8Array, options: DecodeOptions = {}): DecodedBatch {
  try {
    return decodeUnsafe(frame, options);
  } catch (e) {
    // Defensive: every expected failure is reported below without throwing; this catches surprises.
    return frameRejected(`undecodable: ${(e as Error).message}`);
  }
}

class FrameError extends Error {}

function frameRejected(reason: string): DecodedBatch {
  return { messages: [], rejected: [{ reason: `frame ${reason}` }] };
}

function decodeUnsafe(frame: Uint8Array, options: DecodeOptions): DecodedBatch {
  if (!(frame instanceof Uint8Array)) return frameRejected("is not bytes");
  const maxBytes = options.maxFrameBytes ?? Number.POSITIVE_INFINITY;
  if (frame.length > maxBytes) return frameRejected(`of ${frame.length} bytes exceeds ${maxBytes}`);
  if (frame.length < PREFIX_BYTES) return frameRejected(`truncated (${frame.length} bytes)`);
  if (frame[0] !== PEER_FRAME_VERSION) return frameRejected(`has unknown version ${frame[0]}`);
  const headEnd = PREFIX_BYTES + frame[1]! * 0x1000000 + ((frame[2]! << 16) | (frame[3]! << 8) | frame[4]!);
  if (headEnd > frame.length) return frameRejected("head runs past the end");
  let head: unknown;
  try {
    head = unpackr.unpack(frame.subarray(PREFIX_BYTES, headEnd));
  } catch (e) {
    return frameRejected(`head is not msgpack: ${(e as Error).message}`);
  }
  if (!Array.isArray(head) || head.length !== 2) return frameRejected("head is not [strings, tuples]");
  const [strings, tuples] = head as [unknown, unknown];
  if (!Array.isArray(strings) || !strings.every((s) => typeof s === "string"))
    return frameRejected("string table is not an array of strings");
  if (!Array.isArray(tuples)) return frameRejected("tuples is not an array");

  const bodies = frame.subarray(headEnd);
  const reader = new TupleReader(strings as string[], bodies, options.bodies !== "view");
  const messages: Message[] = [];
  const rejected: Rejection[] = [];
  try {
    for (let i = 0; i < tuples.length; i++) {
      const t = tuples[i];
      if (Array.isArray(t) && t[0] === RUN_CODE) {
        // Each message of a run is checked alone: a bad one is dropped, its neighbours are kept.
        for (const m of reader.readRun(t, i)) {
          const problem = messageProblem(m);
          if (problem === undefined) messages.push(m as unknown as Message);
          else rejected.push({ reason: problem, index: i });
        }
        continue;
      }
      const m = reader.read(t, i);
      const problem = messageProblem(m) ?? nestedProblem(m);
      if (problem === undefined) messages.push(m as unknown as Message);
      else rejected.push({ reason: problem, index: i });
    }
    if (reader.offset !== bodies.length)
      throw new FrameError(`bodies take ${reader.offset} of ${bodies.length} bytes`);
  } catch (e) {
    if (e instanceof FrameError) return frameRejected(e.message);
    throw e;
  }
  return { messages, rejected };
}

/** BaseInfo is checked here because core's messageProblem leaves fetchReply.base and base.config unchecked. */
function nestedProblem(m: Record<string, unknown>): string | undefined {
  if (m.base === undefined) return undefined;
  const p = baseProblem(m.base);
  return p === undefined ? undefined : `bad ${m.type} base: ${p}`;
}

/**
 * Turns tuples back into message objects. Structural faults (which a correct encoder never produces and
 * which could desynchronize the body section) throw FrameError and reject the whole frame.
 */
class TupleReader {
  /** Bytes of the body section consumed so far; must end at its length. */
  offset = 0;

  constructor(
    private readonly strings: readonly string[],
    private readonly bodies: Uint8Array,
    private readonly copy: boolean,
  ) {}

  read(t: unknown, index: number): Record<string, unknown> {
    if (!Array.isArray(t)) throw new FrameError(`message ${index} is not a tuple`);
    const plan: Plan | undefined = Number.isInteger(t[0]) ? PLANS[t[0]] : undefined;
    if (plan === undefined) throw new FrameError(`message ${index} has unknown type code`);
    if (t.length !== plan.tupleLength)
      throw new FrameError(`message ${index} (${plan.type}) has ${t.length} slots`);
    const m: Record<string, unknown> = {
      type: plan.type,
      group: t[1],
      inc: t[2],
      from: this.string(t[3], index),
      to: this.string(t[4], index),
    };
    let at = ENVELOPE_SLOTS;
    for (let i = 0; i < plan.names.length; i++) {
      const name = plan.names[i]!;
      const v = t[at++];
      switch (plan.kinds[i]) {
        case Kind.id:
          m[name] = this.string(v, index);
          break;
        case Kind.version:
          m[name] = { pid: v, seq: t[at++] };
          break;
        case Kind.entries:
          m[name] = this.entries(v, index);
          break;
        case Kind.nested:
          if (v !== null) m[name] = v;
          break;
        default:
          m[name] = v;
      }
    }
    return m;
  }

  /** The messages of a run tuple (see RUN_CODE); fields are checked by the caller, the shape here. */
  readRun(t: unknown[], index: number): Record<string, unknown>[] {
    if (t.length !== RUN_TUPLE_LENGTH) throw new FrameError(`run ${index} has ${t.length} slots`);
    const code = t[1];
    const width = Number.isInteger(code) ? RUN_WIDTH[code as number] : undefined;
    if (width === undefined) throw new FrameError(`run ${index} has a type that never runs`);
    const flat = t[4];
    if (!Array.isArray(flat) || flat.length === 0 || flat.length % width !== 0)
      throw new FrameError(`run ${index} has malformed messages`);
    const plan = PLANS[code as number]!;
    const from = this.string(t[2], index);
    const to = this.string(t[3], index);
    const out = new Array<Record<string, unknown>>(flat.length / width);
    for (let j = 0, k = 0; k < flat.length; j++) {
      const m: Record<string, unknown> = { type: plan.type, group: flat[k++], inc: flat[k++], from, to };
      for (const name of plan.names) m[name] = flat[k++];
      out[j] = m;
    }
    return out;
  }

  private string(id: unknown, index: number): string {
    const s = typeof id === "number" ? this.strings[id] : undefined;
    if (s === undefined) throw new FrameError(`message ${index} refers to a missing string`);
    return s;
  }

  private entries(flat: unknown, index: number): GroupEntry[] {
    if (!Array.isArray(flat) || flat.length % ENTRY_WIDTH !== 0)
      throw new FrameError(`message ${index} has malformed entries`);
    const out = new Array<GroupEntry>(flat.length / ENTRY_WIDTH);
    for (let j = 0, k = 0; k < flat.length; j++, k += ENTRY_WIDTH) {
      const len = flat[k + 9];
      if (!Number.isSafeInteger(len) || len < 0 || this.offset + len > this.bodies.length)
        throw new FrameError(`message ${index} has a body length past the body section`);
      out[j] = {
        pid: flat[k],
        lsn: flat[k + 1],
        end: flat[k + 2],
        count: flat[k + 3],
        maxCsn: flat[k + 4],
        flags: flat[k + 5],
        checksum: flat[k + 6],
        accum: flat[k + 7],
        committedEnd: flat[k + 8],
        body: this.body(len),
      };
    }
    return out;
  }

  private body(len: number): Uint8Array {
    const start = this.offset;
    this.offset += len;
    if (!this.copy) return this.bodies.subarray(start, start + len);
    // allocUnsafeSlow: its own ArrayBuffer, not a slice of Node's shared 8 KB pool, which would pin the pool.
    const b = Buffer.allocUnsafeSlow(len);
    b.set(this.bodies.subarray(start, start + len));
    return b;
  }
}
