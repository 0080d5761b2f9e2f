import { describe, expect, it } from "vitest";
import { SessionTable } from "./session-table.ts";

describe("session table", () => {
  it("finds a recorded (session, seq), and forgets seqs below the window as INDETERMINATE, never as new", () => {
    const t = new SessionTable(10, 4);
    for (let seq = 0; seq < 6; seq++) t.record({ id: 1, seq }, 100 + seq, 10 + seq);
    expect(t.lookup({ id: 1, seq: 5 })).toEqual({ kind: "duplicate", lsn: 105, csn: 15 });
    expect(t.lookup({ id: 1, seq: 0 })).toEqual({ kind: "forgotten" });
    expect(t.lookup({ id: 1, seq: 9 })).toEqual({ kind: "new" });
  });

  it("a marked retry it cannot find is new only if its log reaches back to the group's creation", () => {
    const t = new SessionTable(10);
    t.record({ id: 1, seq: 7 }, 500, 50);
    // Complete history: not in the log means never appended.
    expect(t.lookup({ id: 1, seq: 3 }, true, true)).toEqual({ kind: "new" });
    expect(t.lookup({ id: 2, seq: 0 }, true, true)).toEqual({ kind: "new" });
    // Recycled below the base: the first copy may be there.
    expect(t.lookup({ id: 1, seq: 3 }, true, false)).toEqual({ kind: "forgotten" });
    expect(t.lookup({ id: 2, seq: 0 }, true, false)).toEqual({ kind: "forgotten" });
    // A first attempt (not a retry) is always new.
    expect(t.lookup({ id: 2, seq: 0 }, false, false)).toEqual({ kind: "new" });
  });

  it("after evicting a whole session, a retry of an unknown session is INDETERMINATE even with complete history", () => {
    const t = new SessionTable(2);
    for (let id = 1; id <= 3; id++) t.record({ id, seq: 0 }, id * 100, id);
    expect(t.lookup({ id: 1, seq: 0 }, true, true)).toEqual({ kind: "forgotten" });
    expect(t.lookup({ id: 3, seq: 1 }, true, true)).toEqual({ kind: "new" });
  });
});
