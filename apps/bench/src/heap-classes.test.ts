import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { summarizeHeapSnapshot } from "./heap-classes.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("heap snapshot summary by class", () => {
  it("counts the instances of a class a process holds and names it among the largest", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-heap-"));
    dirs.push(dir);
    const file = path.join(dir, "x.heapsnapshot");
    // A small process holding 20,000 objects of one class, each with a 64-number array.
    const script = `
      class GroupLikeThing { constructor(i) { this.id = i; this.ring = new Array(64).fill(i); } }
      globalThis.kept = Array.from({ length: 20000 }, (_, i) => new GroupLikeThing(i));
      require("node:v8").writeHeapSnapshot(${JSON.stringify(file)});`;
    execFileSync(process.execPath, ["-e", script]);
    const s = await summarizeHeapSnapshot(file, 10, 20000);
    const mine = s.classes.find((c) => c.name === "GroupLikeThing (object)");
    expect(mine, JSON.stringify(s.classes)).toBeDefined();
    expect(mine!.count).toBe(20000);
    expect(s.bytes).toBeGreaterThan(mine!.bytes);
    // Classes with one object per "group": ours (its arrays' class too), nothing with fewer.
    expect(s.common.map((c) => c.name)).toContain("GroupLikeThing (object)");
    expect(s.common.every((c) => c.count >= 20000)).toBe(true);
    // Their arrays' backing stores are the largest entry: 20,000 x (64 slots x 8 bytes + header).
    expect(s.classes[0]!.bytes).toBeGreaterThan(20000 * 64 * 8);
  });
});
