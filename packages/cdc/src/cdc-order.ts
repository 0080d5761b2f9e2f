/** The order a CDC reader delivers in: by CSN, ties by group, then LSN. True when `a` comes strictly first. */
export function cdcBefore(
  a: { readonly csn: number; readonly group: number; readonly lsn: number },
  b: { readonly csn: number; readonly group: number; readonly lsn: number },
): boolean {
  if (a.csn !== b.csn) return a.csn < b.csn;
  if (a.group !== b.group) return a.group < b.group;
  return a.lsn < b.lsn;
}
