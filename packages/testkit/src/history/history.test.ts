// The recorder is what the simulator touches: it must keep what clients saw even if their buffers change,
// refuse to be misused, and hold the checkers' one assumption (unique payloads per session).
import { describe, expect, it } from "vitest";
import { HistoryRecorder } from "./history.ts";
import { bytes } from "./history-script.ts";

describe("HistoryRecorder", () => {
  it("records calls, returns and outcomes in begin order; unended ops never returned", () => {
    const r = new HistoryRecorder();
    const payload = bytes("a");
    const a = r.begin("c1", 1, { type: "append", payload, session: { id: 1, seq: 1 } }, 10);
    const read = r.begin("c2", 1, { type: "read", fromLsn: 0, linearizable: true }, 11);
    r.begin("c3", 1, { type: "append", payload: bytes("b"), session: { id: 3, seq: 1 } }, 12);
    payload[0] = 0x7a; // the client reuses its buffer
    r.end(read, { status: "ok", entries: [], committedEnd: 0, next: 0 }, 13);
    r.end(a, { status: "committed", lsn: 0, csn: 1 }, 14);
    expect(r.operations.map((o) => [o.client, o.call, o.ret, o.output?.status])).toEqual([
      ["c1", 10, 14, "committed"],
      ["c2", 11, 13, "ok"],
      ["c3", 12, undefined, undefined],
    ]);
    expect(r.operations[0]!.input).toMatchObject({ payload: bytes("a") });
    expect(r.sessionOf(1, bytes("a"))).toEqual({ id: 1, seq: 1 });
    expect(r.sessionOf(2, bytes("a"))).toBeUndefined();
  });

  it("refuses a second end, an end before the call, and one payload for two sessions", () => {
    const r = new HistoryRecorder();
    const h = r.begin(1, 1, { type: "append", payload: bytes("a"), session: { id: 1, seq: 1 } }, 5);
    expect(() => r.end(h, { status: "failed" }, 4)).toThrow(/before its call/);
    r.end(h, { status: "failed" }, 6);
    expect(() => r.end(h, { status: "failed" }, 7)).toThrow(/ended twice/);
    // A retry (same session, same bytes) is fine; other bytes under that session or these under another are not.
    r.begin(1, 1, { type: "append", payload: bytes("a"), session: { id: 1, seq: 1 } }, 8);
    expect(() =>
      r.begin(2, 1, { type: "append", payload: bytes("a"), session: { id: 2, seq: 1 } }, 9),
    ).toThrow(/appended the same bytes/);
  });
});
