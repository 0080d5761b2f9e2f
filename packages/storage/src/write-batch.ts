/**
 * The records submitted between two flushes, already encoded into one growable buffer so a
 * flush is a single write. Records are encoded at submit time with the generation of the
 * segment that was current then; if the flush lands them in a later segment it patches the
 * generation (rare: once per segment rollover).
 */
import { encodeRecord, viewOf } from "./record-codec.ts";

const INITIAL_BYTES = 256 * 1024;

/** Which index slot a written record must be pointed at once it is on disk. */
export const LocatorKind = { entry: 0, meta: 1, base: 2 } as const;

export class WriteBatch {
  /** Flush sequence number that will make this batch durable. */
  seq: number;
  /** Generation the records were encoded with. */
  generation: number;
  buf: Buffer;
  view: DataView;
  length = 0;
  records = 0;
  // Columnar locators (no object per record): kind, group, lsn, batch offset.
  readonly locKind: number[] = [];
  readonly locGroup: number[] = [];
  readonly locLsn: number[] = [];
  readonly locOff: number[] = [];
  // Where each written chunk of the batch went: batch offset -> (generation, file position).
  readonly chunkStart: number[] = [];
  readonly chunkGen: number[] = [];
  readonly chunkPos: number[] = [];

  constructor(seq: number, generation: number, buf?: Buffer) {
    this.seq = seq;
    this.generation = generation;
    this.buf = buf ?? Buffer.allocUnsafe(INITIAL_BYTES);
    this.view = viewOf(this.buf);
  }

  /** Reuses this batch's buffer for a new sequence number. */
  reset(seq: number, generation: number): void {
    this.seq = seq;
    this.generation = generation;
    this.length = 0;
    this.records = 0;
    this.locKind.length = 0;
    this.locGroup.length = 0;
    this.locLsn.length = 0;
    this.locOff.length = 0;
    this.chunkStart.length = 0;
    this.chunkGen.length = 0;
    this.chunkPos.length = 0;
  }

  /** Appends one record and returns its offset in the batch. */
  append(
    kind: number,
    flags: number,
    group: number,
    lsn: number,
    end: number,
    pid: number,
    payload: Uint8Array | undefined,
    size: number,
  ): number {
    const at = this.length;
    if (at + size > this.buf.length) this.grow(at + size);
    this.length += encodeRecord(
      this.buf,
      this.view,
      at,
      this.generation,
      kind,
      flags,
      group,
      lsn,
      end,
      pid,
      payload,
    );
    this.records++;
    return at;
  }

  locate(kind: number, group: number, lsn: number, offset: number): void {
    this.locKind.push(kind);
    this.locGroup.push(group);
    this.locLsn.push(lsn);
    this.locOff.push(offset);
  }

  private grow(need: number): void {
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
    this.view = viewOf(next);
  }
}
