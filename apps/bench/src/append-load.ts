// The append load of `palf bench append` in one process: an open- or closed-loop schedule (open-loop.ts)
// over `publishers` client connections, groups firstGroup.. in turn (closed loop: each slot stays on its
// group), payload sizes from a mix, recording
// each measured append into a RunRecorder. A warm-up schedule runs first and is not recorded. Several
// processes run it side by side on shares of the rate, window and count, measured from one wall-clock
// instant.
import { type PalfClient, PalfError } from "@palf/client";
import { type Completion, latencyOf, runSchedule } from "./open-loop.ts";
import type { RunRecorder } from "./run-recorder.ts";

/** When the measured part of a run starts and (without count) ends, fixed once every client is ready. */
export interface RunTiming {
  /** Wall-clock instants (Date.now()): warm-up ends and measuring starts; measuring ends (without count). */
  readonly measureFromMs: number;
  readonly measureToMs?: number;
}

/** One process's share of the load. */
export interface LoadShare {
  readonly groups: number;
  readonly firstGroup: number;
  /** Payload sizes, picked evenly (deterministically per operation). */
  readonly sizes: readonly number[];
  /** This process's share of the target rate (appends/s); undefined: closed loop. */
  readonly rate?: number;
  /** This process's share of the appends in flight. */
  readonly inflight: number;
  /** This process's share of `--count` (measured appends); undefined: run until measureToMs. */
  readonly count?: number;
  /** This process among `processes`: operations are interleaved so they cover every group. */
  readonly processIndex: number;
  readonly processes: number;
  /** Stamp each payload with its send time (for reader lag); otherwise one shared payload per size. */
  readonly stamp?: boolean;
}

export type AppendLoadSpec = LoadShare & RunTiming;

/** First bytes of a bench payload: a marker, then the send time (Date.now(), float64) for reader lag. */
const STAMP_MAGIC = 0x50_4c_46_42; // "PLFB"
export const STAMP_BYTES = 12;

/** Send time of a bench payload, or undefined for other entries (or payloads too small to carry it). */
export function stampOf(payload: Uint8Array): number | undefined {
  if (payload.length < STAMP_BYTES) return undefined;
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  return view.getUint32(0) === STAMP_MAGIC ? view.getFloat64(4) : undefined;
}

/** A payload of `size` bytes stamped with `sentAtMs` when it has room. */
export function makeStampedPayload(size: number, sentAtMs: number): Uint8Array {
  const b = new Uint8Array(size).fill(0x61);
  if (size >= STAMP_BYTES) {
    const view = new DataView(b.buffer);
    view.setUint32(0, STAMP_MAGIC);
    view.setFloat64(4, sentAtMs);
  }
  return b;
}

/** Which size operation `i` uses: a multiplicative hash, so sizes are spread over groups and time. */
export function sizeOf(sizes: readonly number[], i: number): number {
  return sizes[(Math.imul(i + 1, 0x9e3779b1) >>> 0) % sizes.length]!;
}

export interface AppendLoadResult {
  /** Appends sent in the measured part (warm-up excluded). */
  readonly sent: number;
  readonly warmupAcked: number;
  /** Wall-clock ms when the last measured append ended (measureFromMs if none did). */
  readonly lastEndMs: number;
}

/**
 * Runs one schedule from now: appends due before measureFromMs are the warm-up (not recorded), the rest
 * are measured until measureToMs or `count` of them have been sent. One schedule, so the warm-up flows
 * into the measured part without a pause and an open loop keeps its pace across the boundary.
 */
export async function runAppendLoad(
  clients: readonly PalfClient[],
  spec: AppendLoadSpec,
  recorder: RunRecorder,
): Promise<AppendLoadResult> {
  const perfAt = (wallMs: number) => performance.now() + (wallMs - Date.now());
  const measureFrom = perfAt(spec.measureFromMs);
  // Without readers nobody looks inside: the same bytes for every append of a size, as no allocation.
  const shared = new Map(spec.sizes.map((size) => [size, new Uint8Array(size).fill(0x61)]));
  /** Bytes of each measured append in flight, by schedule index. */
  const measured = new Map<number, number>();
  const enough = new AbortController();
  let sent = 0;
  let warmupAcked = 0;
  let lastEndMs = spec.measureFromMs;
  // Closed loop: each slot is one stream that keeps appending to its own group, as a publisher per stream
  // does (the slot freed by a group's ack sends that group's next append), so a group's acks and next
  // appends batch together. Open loop: appends go to the groups in turn.
  const closedLoop = spec.rate === undefined;
  const groupOfIndex = new Map<number, number>();
  const freedGroups: number[] = [];
  const send = (i: number, intendedAt: number): Promise<unknown> => {
    const global = i * spec.processes + spec.processIndex;
    const group = (closedLoop ? freedGroups.pop() : undefined) ?? spec.firstGroup + (global % spec.groups);
    if (closedLoop) groupOfIndex.set(i, group);
    const size = sizeOf(spec.sizes, global);
    if (intendedAt >= measureFrom) {
      measured.set(i, size);
      if (++sent === spec.count) enough.abort();
    }
    const client = clients[global % clients.length]!;
    return client.group(group).append(spec.stamp ? makeStampedPayload(size, Date.now()) : shared.get(size)!);
  };
  const onDone = (c: Completion) => {
    if (closedLoop) {
      freedGroups.push(groupOfIndex.get(c.index)!);
      groupOfIndex.delete(c.index);
    }
    const bytes = measured.get(c.index);
    if (bytes === undefined) {
      if (c.error === undefined) warmupAcked++;
      return;
    }
    measured.delete(c.index);
    const at = Date.now();
    lastEndMs = Math.max(lastEndMs, at);
    if (c.error === undefined) recorder.ack(at, latencyOf(c), c.endAt - c.sentAt, bytes);
    else recorder.error(at, c.error instanceof PalfError ? c.error.code : "OTHER");
  };
  await runSchedule({
    ...(spec.rate === undefined ? {} : { rate: spec.rate }),
    inflight: spec.inflight,
    ...(spec.measureToMs === undefined ? {} : { until: perfAt(spec.measureToMs) }),
    signal: enough.signal,
    send,
    onDone,
  });
  return { sent, warmupAcked, lastEndMs };
}
