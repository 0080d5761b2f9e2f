import { describe, expect, it } from "vitest";
import type { WatermarkBatch } from "./watermark-batch.ts";
import { WatermarkView } from "./watermark-view.ts";

type Seen = Record<number, [pid: number, lsn: number, w: number]>;

function applyTo(view: WatermarkView, b: WatermarkBatch): Seen | undefined {
  const seen: Seen = {};
  const ok = view.apply(b, (group, pid, lsn, w) => {
    seen[group] = [pid, lsn, w];
  });
  return ok ? seen : undefined;
}

const full = (seq: number, w: number, groups: number[], boot = 1): WatermarkBatch => ({
  node: "n1",
  boot,
  seq,
  base: 0,
  w,
  groups,
});
const delta = (seq: number, w: number, groups: number[], boot = 1): WatermarkBatch => ({
  node: "n1",
  boot,
  seq,
  base: seq - 1,
  w,
  groups,
});

describe("WatermarkView", () => {
  it("a delta vouches the groups it does not name at its own w, with the (pid, lsn) they were vouched at", () => {
    const v = new WatermarkView();
    // Group 1 vouched at the batch's w (carried), 2 at an older round (not carried), 3 held.
    expect(applyTo(v, full(1, 100, [1, 5, 40, 100, 2, 5, 7, 90, 3, 5, -1, 0]))).toEqual({
      1: [5, 40, 100],
      2: [5, 7, 90],
      3: [5, -1, 0],
    });
    // Group 4 appears, 2 is vouched now; 1 is carried to w 110.
    expect(applyTo(v, delta(2, 110, [4, 6, 3, 110, 2, 5, 9, 110]))).toEqual({
      1: [5, 40, 110],
      2: [5, 9, 110],
      4: [6, 3, 110],
    });
    // 1 appended (named again), 4 no longer led here: not named, no longer carried.
    expect(applyTo(v, delta(3, 120, [1, 5, 41, 120, 4, 0, -2, 0]))).toEqual({
      1: [5, 41, 120],
      2: [5, 9, 120],
    });
    expect(applyTo(v, delta(4, 130, []))).toEqual({ 1: [5, 41, 130], 2: [5, 9, 130] });
    // Named as held: the reader keeps what it trusts, and the group is not carried any more.
    expect(applyTo(v, delta(5, 140, [2, 5, -1, 0]))).toEqual({ 1: [5, 41, 140], 2: [5, -1, 0] });
    expect(applyTo(v, delta(6, 150, []))).toEqual({ 1: [5, 41, 150] });
  });

  it("drops a delta that does not extend the last batch it applied, until the next full batch", () => {
    const v = new WatermarkView();
    expect(applyTo(v, delta(5, 100, []))).toBeUndefined();
    applyTo(v, full(6, 100, [1, 5, 40, 100]));
    expect(applyTo(v, delta(8, 120, []))).toBeUndefined(); // 7 was lost
    expect(applyTo(v, delta(9, 130, []))).toBeUndefined();
    expect(applyTo(v, full(10, 140, [1, 5, 40, 140]))).toEqual({ 1: [5, 40, 140] });
    expect(applyTo(v, delta(11, 150, []))).toEqual({ 1: [5, 40, 150] });
    // A restarted publisher (new boot) whose seqs happen to line up does not extend the old state.
    expect(applyTo(v, { ...delta(12, 160, []), boot: 2 })).toBeUndefined();
    expect(v.stats.gaps).toBe(4);
  });

  it("a full batch replaces everything the node said before", () => {
    const v = new WatermarkView();
    applyTo(v, full(1, 100, [1, 5, 40, 100, 2, 5, 7, 100]));
    applyTo(v, full(2, 110, [2, 5, 7, 110]));
    expect(applyTo(v, delta(3, 120, []))).toEqual({ 2: [5, 7, 120] });
  });
});
