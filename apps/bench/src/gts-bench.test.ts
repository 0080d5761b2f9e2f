import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { realTimeViolations } from "./gts-bench.ts";

const mainTs = fileURLToPath(new URL("./main.ts", import.meta.url));

describe("the GTS bench's cross-process order check", () => {
  it("accepts overlapping calls in any order and calls ordered in real time with rising timestamps", () => {
    // (asked, answered, ts): the first two overlap, so either may get the smaller value.
    const a = [0, 10, 7, 20, 30, 9];
    const b = [5, 12, 6, 31, 40, 11];
    expect(realTimeViolations([a, b])).toBe(0);
  });

  it("counts a call asked after another was answered that got a timestamp not above it, across processes", () => {
    const a = [0, 10, 7];
    const b = [11, 15, 7, 16, 20, 3];
    expect(realTimeViolations([a, b])).toBe(2);
  });
});

describe("pnpm bench gts", () => {
  it("runs its callers in two client processes and reports one JSON line with their timestamps, checked in order", {
    timeout: 180_000,
  }, async () => {
    const args = [
      "gts",
      "--nodes",
      "1",
      "--clients",
      "4",
      "--callers",
      "8",
      "--processes",
      "2",
      "--seconds",
      "1",
    ];
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ["--import", "tsx", mainTs, ...args], {
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      child.once("close", (code) => resolve({ code, stdout, stderr }));
    });
    expect(out.code, out.stderr).toBe(0);
    const r = JSON.parse(out.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>;
    expect(r.processes).toBe(2);
    expect(r.monotonic).toBe(true);
    expect(r.tsPerS as number).toBeGreaterThan(0);
    expect(r.crossProcessSamples as number).toBeGreaterThan(0);
    expect(r.clientCpuPct as number[]).toHaveLength(2);
  });
});
