import {
  CURSOR_GROUP,
  type CursorPosition,
  type CursorRecord,
  CursorTable,
  cursorNameProblem,
  decodeCursorRecord,
  encodeCursorRecord,
} from "@palf/transport";
import type { PalfClient } from "./client.ts";
import { PalfError } from "./palf-error.ts";

/** A cursor with how far it is behind: per group, committed bytes it has not consumed yet. */
export interface CursorReport extends CursorRecord {
  readonly lag: Readonly<Record<string, number>>;
  readonly totalLag: number;
}

/**
 * Named, durable reader cursors (CDC consumers, checkpoints of other readers), kept in the cluster's cursor
 * group (CURSOR_GROUP). Retention never recycles a group's log past the position a cursor names, so a
 * consumer that resumes from its cursor finds everything it has not consumed. Delete a cursor nobody reads
 * any more: it holds its groups' logs for ever.
 */
export class Cursors {
  constructor(private readonly client: PalfClient) {}

  /** Creates the cursor group on `members` (once per cluster, like the GTS group). */
  async createGroup(members: readonly string[]): Promise<void> {
    await this.client.createGroup(CURSOR_GROUP, members);
  }

  /** Every live cursor (empty when the cursor group was never created). */
  async list(): Promise<CursorRecord[]> {
    return (await this.table()).list();
  }

  async get(name: string): Promise<CursorRecord | undefined> {
    check(name);
    return (await this.table()).get(name);
  }

  /** Stores a cursor's position once committed; `all`: it reads every group (one it does not name is held whole). */
  async save(name: string, position: CursorPosition, o: { readonly all?: boolean } = {}): Promise<void> {
    check(name);
    await this.write({ name, position, all: o.all === true, at: this.client.runtime.wallNow() });
  }

  /** Deletes a cursor: retention no longer keeps anything for it. */
  async delete(name: string): Promise<boolean> {
    check(name);
    if (!(await this.get(name))) return false;
    await this.write({ name, position: null, all: false, at: this.client.runtime.wallNow() });
    return true;
  }

  /** Every cursor with its lag behind each group's committed end (from the groups' leaders). */
  async report(): Promise<CursorReport[]> {
    const cursors = await this.list();
    if (cursors.length === 0) return [];
    const ends = new Map<number, number>();
    for (const g of (await this.client.membership().overview()).groups) ends.set(g.group, g.committedEnd);
    return cursors.map((c) => {
      const lag: Record<string, number> = {};
      let totalLag = 0;
      for (const [g, lsn] of Object.entries(c.position?.groups ?? {})) {
        const end = ends.get(Number(g));
        if (end === undefined) continue;
        lag[g] = Math.max(0, end - lsn);
        totalLag += lag[g];
      }
      return { ...c, lag, totalLag };
    });
  }

  private async write(r: CursorRecord): Promise<void> {
    try {
      await this.client.group(CURSOR_GROUP).append(encodeCursorRecord(r));
    } catch (e) {
      if (e instanceof PalfError && e.code === "UNKNOWN_GROUP")
        throw new PalfError(
          "UNKNOWN_GROUP",
          `the cursor group (${CURSOR_GROUP}) does not exist: create it once with palfctl cursors init --members ...`,
          { cause: e },
        );
      throw e;
    }
  }

  private async table(): Promise<CursorTable> {
    const t = new CursorTable();
    try {
      for await (const e of this.client.group(CURSOR_GROUP).entries(0)) {
        const r = decodeCursorRecord(e.payload);
        if (r) t.apply(r);
      }
    } catch (e) {
      if (!(e instanceof PalfError && e.code === "UNKNOWN_GROUP")) throw e;
    }
    return t;
  }
}

function check(name: string): void {
  const problem = cursorNameProblem(name);
  if (problem) throw new PalfError("BAD_REQUEST", `bad cursor name ${JSON.stringify(name)}: ${problem}`);
}
