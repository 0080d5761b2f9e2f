// The load tester's live view: a cli-progress bar with the current rate and p99 when stderr is a
// terminal, otherwise a plain line every few seconds (CI logs, pipes).
import cliProgress from "cli-progress";

export interface ProgressSample {
  /** Progress in the bar's unit (seconds of the window, or appends of --count). */
  readonly done: number;
  /** Appends acknowledged per second over the last full second. */
  readonly rate: number;
  /** p99 latency of the last full second (ms; NaN when nothing completed). */
  readonly p99Ms: number;
  readonly errors: number;
  /** Reader deliveries per second over the last full second, when readers run. */
  readonly readRate?: number;
}

export class LiveProgress {
  private readonly bar: cliProgress.SingleBar | undefined;
  private lastLine = 0;

  constructor(
    private readonly total: number,
    private readonly unit: string,
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly plainEveryMs = 5000,
  ) {
    if (out.isTTY) {
      this.bar = new cliProgress.SingleBar(
        {
          stream: out,
          format: `append |{bar}| {value}/{total} ${unit} | {rate} appends/s | p99 {p99} ms | errors {errors}{read}`,
          hideCursor: true,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, 0, { rate: "-", p99: "-", errors: 0, read: "" });
    }
  }

  update(s: ProgressSample): void {
    const p99 = Number.isNaN(s.p99Ms) ? "-" : s.p99Ms.toFixed(2);
    const read = s.readRate === undefined ? "" : ` | read ${Math.round(s.readRate)}/s`;
    if (this.bar) {
      this.bar.update(Math.min(this.total, Math.floor(s.done)), {
        rate: Math.round(s.rate),
        p99,
        errors: s.errors,
        read,
      });
      return;
    }
    const now = performance.now();
    if (now - this.lastLine < this.plainEveryMs) return;
    this.lastLine = now;
    this.out.write(
      `[append] ${Math.floor(s.done)}/${this.total} ${this.unit}: ${Math.round(s.rate)} appends/s, p99 ${p99} ms, errors ${s.errors}${read}\n`,
    );
  }

  /** Ends the bar (full when the run completed). */
  stop(completed: boolean): void {
    if (completed) this.bar?.update(this.total);
    this.bar?.stop();
  }
}
