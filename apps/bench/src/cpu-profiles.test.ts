import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { printProfiles, summarizeProfile } from "./cpu-profiles.ts";

const frame = (id: number, functionName: string, url: string, children: number[] = []) => ({
  id,
  callFrame: { functionName, url, lineNumber: 0 },
  children,
});

/** 10 ms idle, 30 ms of work in the core, 5 ms of GC, 20 ms of the profiler serializing itself at its stop. */
function writeProfile(dir: string, name: string): string {
  const nodes = [
    frame(1, "(root)", "", [2, 3, 4, 5]),
    frame(2, "(idle)", ""),
    frame(3, "advanceCommit", "file:///x/packages/core/src/leader.ts"),
    frame(4, "(garbage collector)", ""),
    frame(5, "post", "node:inspector", [6]),
    frame(6, "dispatch", ""),
  ];
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  const add = (id: number, ms: number) => {
    for (let i = 0; i < ms; i++) {
      samples.push(id);
      timeDeltas.push(1000);
    }
  };
  add(2, 10);
  add(3, 30);
  add(4, 5);
  add(6, 20);
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify({ nodes, samples, timeDeltas }));
  return file;
}

describe("CPU profile summaries", () => {
  it("busy time leaves out idle and the profiler's own stop, and the cost per 1000 appends follows from it", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-profiles-"));
    try {
      const s = summarizeProfile(writeProfile(dir, "n1-123.cpuprofile"));
      expect(s.ms).toBe(65);
      expect(s.busyMs).toBe(35);
      expect(s.areas).toMatchObject({ "packages/core": 46.2, profiler: 30.8, idle: 15.4, gc: 7.7 });
      expect(printProfiles(dir, "test", { count: 7000, what: "acked appends" })).toEqual({ n1: 5 });
      expect(printProfiles(dir, "test")).toEqual({});
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
