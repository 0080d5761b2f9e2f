import { cdcBefore } from "./cdc-order.ts";
import type { CdcEntry } from "./cdc-types.ts";

/** Entries ordered by (csn, group, lsn): the order a CDC reader delivers them in. */
export class EntryHeap {
  private readonly items: CdcEntry[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): CdcEntry | undefined {
    return this.items[0];
  }

  push(e: CdcEntry): void {
    const a = this.items;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!cdcBefore(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }

  pop(): CdcEntry | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && cdcBefore(a[l]!, a[m]!)) m = l;
        if (r < a.length && cdcBefore(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}
