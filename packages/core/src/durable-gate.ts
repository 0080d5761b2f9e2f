import type { EffectSink, PersistRecord } from "./effects.ts";
import type { Message } from "./messages.ts";
import type { GroupId, Lsn, Pid } from "./types.ts";
import { safe, type UnsafeSwitches } from "./unsafe-switches.ts";

/**
 * Numbers every record a replica asks to persist, and holds back every message that depends on durability
 * (promises, grants, acks, prepare replies) until the host says the records issued before it are durable.
 * It also tracks the durable end of the log, which a leader counts as its own position.
 */
export class DurableGate {
  private lastSeq = 0;
  private durableSeqValue = 0;
  private held: Array<{ seq: number; message: Message }> = [];
  private heldHead = 0;
  private marks: Array<{ seq: number; end: Lsn; lastPid: Pid }> = [];
  private marksHead = 0;
  private durableEndValue: Lsn;
  private durableLastPidValue: Pid;
  /** The log's end after the last record that changes it (durable or not). */
  private issuedEnd: Lsn;
  /**
   * A truncation (or reset) not yet durable: past `end` the log in memory no longer matches what the disk
   * holds, even below the durable end, until record `seq` is durable. Undefined: none pending.
   */
  private shrink: { seq: number; end: Lsn; lastPid: Pid } | undefined;
  /** Test-only fault (UnsafeSwitches.sendBeforeDurable): let messages leave before their records are durable. */
  unsafeSendEarly: boolean;

  constructor(
    private readonly group: GroupId,
    private readonly sink: EffectSink,
    end: Lsn,
    lastPid: Pid,
    unsafe: Partial<UnsafeSwitches> = safe,
  ) {
    this.unsafeSendEarly = unsafe.sendBeforeDurable === true;
    this.durableEndValue = end;
    this.durableLastPidValue = lastPid;
    this.issuedEnd = end;
  }

  get durableSeq(): number {
    return this.durableSeqValue;
  }
  /** End of the durable prefix that is also the log in memory (a pending truncation caps it). */
  get durableEnd(): Lsn {
    const s = this.shrink;
    return s !== undefined && s.end < this.durableEndValue ? s.end : this.durableEndValue;
  }
  get durableLastPid(): Pid {
    const s = this.shrink;
    return s !== undefined && s.end < this.durableEndValue ? s.lastPid : this.durableLastPidValue;
  }
  /** True when every record asked for so far is durable. */
  get settled(): boolean {
    return this.durableSeqValue >= this.lastSeq;
  }

  /** Asks the host to persist a record; `logEnd` is the log's end after it, for records that change the log. */
  persist(record: PersistRecord, logEnd?: { end: Lsn; lastPid: Pid }): number {
    const seq = ++this.lastSeq;
    if (logEnd) {
      this.marks.push({ seq, end: logEnd.end, lastPid: logEnd.lastPid });
      // The log got shorter: what the disk holds past logEnd.end is not this log any more (a leader that
      // counted it would count rewritten entries as durable before they are).
      if (logEnd.end < this.issuedEnd) {
        const s = this.shrink;
        this.shrink =
          s !== undefined && s.end <= logEnd.end
            ? { seq, end: s.end, lastPid: s.lastPid }
            : { seq, end: logEnd.end, lastPid: logEnd.lastPid };
      }
      this.issuedEnd = logEnd.end;
    }
    this.sink.persist(this.group, seq, record);
    return seq;
  }

  /** Sends once everything persisted so far is durable. */
  sendWhenDurable(message: Message): void {
    if (this.settled || this.unsafeSendEarly) this.sink.send(message);
    else this.held.push({ seq: this.lastSeq, message });
  }

  /** The host reports records up to `seq` durable: releases held messages and advances the durable end. */
  durable(seq: number): void {
    if (seq <= this.durableSeqValue) return;
    this.durableSeqValue = Math.min(seq, this.lastSeq);
    while (this.marksHead < this.marks.length && this.marks[this.marksHead]!.seq <= this.durableSeqValue) {
      const m = this.marks[this.marksHead++]!;
      this.durableEndValue = m.end;
      this.durableLastPidValue = m.lastPid;
    }
    if (this.shrink !== undefined && this.shrink.seq <= this.durableSeqValue) this.shrink = undefined;
    if (this.marksHead > 256 && this.marksHead * 2 > this.marks.length) {
      this.marks = this.marks.slice(this.marksHead);
      this.marksHead = 0;
    }
    while (this.heldHead < this.held.length && this.held[this.heldHead]!.seq <= this.durableSeqValue) {
      this.sink.send(this.held[this.heldHead++]!.message);
    }
    if (this.heldHead === this.held.length) {
      this.held = [];
      this.heldHead = 0;
    }
  }
}
