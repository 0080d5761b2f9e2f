// The write half of a flush: one batch into the segment files in as few writes as segment boundaries allow,
// rolling over to a new segment when one is full, waiting out ENOSPC, and the fdatasync that follows.
import { fdatasync, writeAll } from "./file-io.ts";
import { recordSize, SEAL_BYTES, setGeneration } from "./record-codec.ts";
import type { SegmentFiles } from "./segment-files.ts";
import type { WalFs } from "./wal-fs.ts";
import type { WriteBatch } from "./write-batch.ts";

export class SegmentWriter {
  /** A flush waits for disk space (a write met ENOSPC); see whileNoSpace. */
  waitingForSpace = false;
  noSpaceRetries = 0;
  /** The WAL is closing: a batch waiting for space gives up (the WAL fails) rather than hold the close. */
  closing = false;

  constructor(
    private readonly fs: WalFs,
    private readonly segments: SegmentFiles,
    private readonly segmentBytes: number,
    /** ShardWalOptions.unsafe.retrySync (test-only). */
    private readonly retrySync: boolean,
  ) {}

  /** Writes the batch in as few writes as segment boundaries allow; true if it rolled over. */
  async write(batch: WriteBatch): Promise<boolean> {
    let rolledOver = false;
    let from = 0;
    while (from < batch.length) {
      const seg = this.segments.current;
      const room = this.segmentBytes - SEAL_BYTES - seg.writeOffset;
      let to = from;
      if (batch.length - from <= room) to = batch.length;
      else {
        for (let n = recordSize(batch.view, to); to < batch.length && to + n - from <= room; ) {
          to += n;
          if (to < batch.length) n = recordSize(batch.view, to);
        }
      }
      if (to === from) {
        // Retried only while the seal is not in place (ENOSPC writing it); after that a failure is fatal.
        const sealAt = seg.writeOffset;
        await this.whileNoSpace(
          () => this.segments.rollOver(),
          () => this.segments.current === seg && !seg.sealed && seg.writeOffset === sealAt,
        );
        rolledOver = true;
        continue;
      }
      if (batch.generation !== seg.generation) {
        for (let at = from; at < to; at += recordSize(batch.view, at)) {
          setGeneration(batch.buf, batch.view, at, seg.generation);
        }
      }
      await this.whileNoSpace(() => writeAll(this.fs, seg.fd, batch.buf, from, to - from, seg.writeOffset));
      batch.chunkStart.push(from);
      batch.chunkGen.push(seg.generation);
      batch.chunkPos.push(seg.writeOffset);
      seg.writeOffset += to - from;
      seg.writeSeq = batch.seq;
      this.segments.grew(seg);
      from = to;
    }
    return rolledOver;
  }

  /**
   * Runs one write of the flush, waiting out a full disk: a write that meets ENOSPC is tried again later at the
   * same offset with the same bytes (so a partial write is simply overwritten), and the flush, with every ack
   * that waits for it, is held meanwhile instead of taking the WAL out of service. Only writes are retried,
   * never an fdatasync (ENOSPC from one stays fatal), and only while `retryable` says no state moved (a rollover
   * whose seal was written is not). close() ends the wait with the error (the WAL then fails).
   */
  private async whileNoSpace<T>(write: () => Promise<T>, retryable: () => boolean = () => true): Promise<T> {
    let delay = 10;
    for (;;) {
      try {
        const out = await write();
        this.waitingForSpace = false;
        return out;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOSPC" || !retryable() || this.closing) throw err;
        this.waitingForSpace = true;
        this.noSpaceRetries++;
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 1000);
      }
    }
  }

  /** fdatasync of the segment written last (never retried, but by the test-only retrySync breach). */
  async sync(): Promise<void> {
    try {
      await fdatasync(this.fs, this.segments.current.fd);
    } catch (err) {
      if (!this.retrySync) throw err;
      // The test-only breach: a second fdatasync that succeeds proves nothing about the pages the first lost.
      await fdatasync(this.fs, this.segments.current.fd);
    }
  }
}
