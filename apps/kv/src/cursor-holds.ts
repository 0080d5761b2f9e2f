import { CURSOR_GROUP, type PalfClient, PalfError } from "@palf/client";
import { CursorTable, decodeCursorRecord } from "@palf/transport";

/**
 * The registered reader cursors as the store server sees them (the cursor group read incrementally), so
 * that recycling never drops a partition's log below a position a cursor (e.g. a transaction-CDC
 * consumer's checkpoint) still needs.
 */
export class CursorHolds {
  private readonly table = new CursorTable();
  private next = 0;
  private seen = false;

  constructor(private readonly client: PalfClient) {}

  /**
   * Reads the cursor entries committed since the last call. Returns the table, or undefined when the
   * cursors cannot be read (then nothing may be recycled: an unknown cursor may hold any group).
   */
  async refresh(): Promise<CursorTable | undefined> {
    try {
      for await (const e of this.client.group(CURSOR_GROUP).entries(this.next)) {
        const r = decodeCursorRecord(e.payload);
        if (r) this.table.apply(r);
        this.next = e.lsn + 1;
      }
      this.seen = true;
      return this.table;
    } catch (e) {
      // A cluster that never had a cursor group has no cursors; one that had it and lost sight of it may.
      if (!this.seen && e instanceof PalfError && e.code === "UNKNOWN_GROUP") return this.table;
      return undefined;
    }
  }
}
