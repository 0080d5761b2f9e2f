/**
 * Collects violation lines up to a limit: one broken invariant tends to show up in every later read, and
 * a report of thousands of lines hides the first one, which is usually the cause.
 */
export class ViolationList {
  private readonly lines: string[] = [];
  private dropped = 0;

  constructor(private readonly limit: number) {}

  add(line: string): void {
    if (this.lines.length < this.limit) this.lines.push(line);
    else this.dropped++;
  }

  /** The lines, plus one counting those left out. */
  toArray(): string[] {
    return this.dropped === 0
      ? [...this.lines]
      : [...this.lines, `... and ${this.dropped} more violation(s)`];
  }
}
