/**
 * Cached reads of the shard WAL: a record's payload by (generation, position), from the write batch still
 * holding it, the LRU read cache, or the segment file (checksum verified).
 */
import path from "node:path";
import { LRUCache } from "lru-cache";
import { WalError } from "./errors.ts";
import { copyBytes, HEADER_BYTES, validRecordAt, viewOf } from "./record-codec.ts";
import type { SegmentFiles } from "./segment-files.ts";
import type { WalFs } from "./wal-fs.ts";
import type { WriteBatch } from "./write-batch.ts";

export class CachedReads {
  private readonly cache: LRUCache<string, Uint8Array>;
  hits = 0;
  misses = 0;

  constructor(
    private readonly fs: WalFs,
    private readonly segments: SegmentFiles,
    /** The write batch with this seq (open or in flight), if any: records not yet in a file live there. */
    private readonly batchOf: (seq: number) => WriteBatch | undefined,
    cacheBytes: number,
  ) {
    this.cache = new LRUCache<string, Uint8Array>({
      maxSize: Math.max(1, cacheBytes),
      sizeCalculation: (v) => Math.max(1, v.buffer.byteLength),
    });
  }

  /**
   * The payload of the record at `position` of segment `generation` (a negative generation: of write batch
   * -generation). `useCache`: look in and fill the read cache (copy-forward reads bypass it).
   */
  readAt(generation: number, position: number, size: number, useCache: boolean): Uint8Array {
    if (generation < 0) {
      const batch = this.batchOf(-generation);
      if (batch === undefined || batch.seq !== -generation) throw new Error(`no write batch ${-generation}`);
      return copyBytes(batch.buf.subarray(position + HEADER_BYTES, position + size));
    }
    const key = `${generation}:${position}`;
    if (useCache) {
      const hit = this.cache.get(key);
      if (hit !== undefined) {
        this.hits++;
        return hit;
      }
      this.misses++;
    }
    const seg = this.segments.get(generation);
    if (seg === undefined) throw new Error(`no segment of generation ${generation}`);
    const buf = new Uint8Array(size);
    let got = 0;
    while (got < size) {
      const n = this.fs.readSync(seg.fd, buf, got, size - got, position + got);
      if (n === 0) break;
      got += n;
    }
    if (validRecordAt(buf, viewOf(buf), 0, got, generation) !== size) {
      throw new WalError(
        "CORRUPT",
        `record at offset ${position} of ${path.basename(seg.path)} fails its checksum`,
        {
          file: seg.path,
          offset: position,
        },
      );
    }
    const payload = buf.subarray(HEADER_BYTES);
    if (useCache) this.cache.set(key, payload);
    return payload;
  }

  clear(): void {
    this.cache.clear();
  }
}
