import type {
  BaseInfo,
  DurableImage,
  DurableMeta,
  GroupEntry,
  MemberConfig,
  PersistRecord,
} from "./index.ts";

/** What one replica's disk holds durably: replays persist records in order, as recovery from a WAL would. */
export class MutableImage {
  meta: DurableMeta = { promisedPid: 0, highestBallot: 0 };
  base: BaseInfo;
  entries: GroupEntry[] = [];

  constructor(config: MemberConfig) {
    this.base = { lsn: 0, pid: 0, accum: 0, csn: 0, config };
  }

  apply(record: PersistRecord): void {
    switch (record.kind) {
      case "meta":
        this.meta = record.meta;
        break;
      case "entry": {
        const e = record.entry;
        const last = this.entries.at(-1);
        const end = last?.end ?? this.base.lsn;
        if (e.lsn !== end) throw new Error(`image: entry at ${e.lsn} does not follow ${end}`);
        this.entries.push(e);
        break;
      }
      case "truncate":
        this.entries = this.entries.filter((e) => e.lsn < record.lsn);
        break;
      case "base":
        this.base = record.base;
        this.entries = record.reset ? [] : this.entries.filter((e) => e.lsn >= record.base.lsn);
        break;
    }
  }

  snapshot(): DurableImage {
    return { meta: this.meta, base: this.base, entries: [...this.entries] };
  }
}
