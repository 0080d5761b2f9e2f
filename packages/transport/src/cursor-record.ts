/**
 * Named, durable reader cursors, kept as entries of one PALF group (as Kafka keeps consumer offsets in a
 * topic): each entry is the latest position of one cursor, or its deletion; the last entry of a name wins.
 * Nodes read the group to know how far each group's log may be recycled; clients write and list it.
 */

/** The group that holds the cursors: the last uint32 group id (group 0 is the GTS group). */
export const CURSOR_GROUP = 0xffff_ffff;

/** A cursor's position: per group, the LSN from which nothing has been consumed yet (a CDC checkpoint). */
export interface CursorPosition {
  readonly groups: Readonly<Record<string, number>>;
  /** CSN of the last entry consumed (for humans and monitoring). */
  readonly csn: number;
}

export interface CursorRecord {
  readonly name: string;
  /** null: the cursor was deleted. */
  readonly position: CursorPosition | null;
  /** The cursor reads every group: a group it does not name is held from its start (LSN 0). */
  readonly all: boolean;
  /** Wall-clock ms of the write (for humans). */
  readonly at: number;
}

const NAME = /^[A-Za-z0-9_.-]{1,128}$/;

/** Why a cursor name is not allowed, or undefined. */
export function cursorNameProblem(name: string): string | undefined {
  return NAME.test(name) ? undefined : `cursor names match ${NAME}`;
}

export function encodeCursorRecord(r: CursorRecord): Uint8Array {
  return Buffer.from(JSON.stringify({ v: 1, ...r }));
}

/** The record an entry holds, or undefined for anything else (a foreign or malformed entry is skipped). */
export function decodeCursorRecord(payload: Uint8Array): CursorRecord | undefined {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(Buffer.from(payload).toString("utf8")) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null || v.v !== 1 || typeof v.name !== "string") return undefined;
  if (cursorNameProblem(v.name) !== undefined) return undefined;
  const p = v.position as Record<string, unknown> | null;
  if (p !== null) {
    if (typeof p !== "object" || typeof p.groups !== "object" || p.groups === null) return undefined;
    if (!Number.isSafeInteger(p.csn)) return undefined;
    for (const [g, lsn] of Object.entries(p.groups as Record<string, unknown>))
      if (!/^\d+$/.test(g) || !Number.isSafeInteger(lsn) || (lsn as number) < 0) return undefined;
  }
  return {
    name: v.name,
    position: p as CursorPosition | null,
    all: v.all === true,
    at: Number.isFinite(v.at) ? (v.at as number) : 0,
  };
}

/** The cursors as the group's entries up to some LSN leave them. */
export class CursorTable {
  private readonly live = new Map<string, CursorRecord>();

  apply(r: CursorRecord): void {
    if (r.position === null) this.live.delete(r.name);
    else this.live.set(r.name, r);
  }

  list(): CursorRecord[] {
    return [...this.live.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  get(name: string): CursorRecord | undefined {
    return this.live.get(name);
  }

  /** The lowest LSN of `group` some cursor still needs (Infinity: none holds it). */
  holdFor(group: number): number {
    let hold = Number.POSITIVE_INFINITY;
    for (const r of this.live.values()) {
      const at = r.position?.groups[String(group)];
      if (at !== undefined) hold = Math.min(hold, at);
      else if (r.all) hold = 0;
    }
    return hold;
  }
}
