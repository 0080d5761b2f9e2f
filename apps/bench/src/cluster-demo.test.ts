import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const demo = fileURLToPath(new URL("./cluster-demo.ts", import.meta.url));
const root = fileURLToPath(new URL("../../..", import.meta.url));

/** Runs the demo as `pnpm start` would (as its own process) and returns its exit code and output. */
function runDemo(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", demo, ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.once("exit", (code) => resolve({ code, out }));
  });
}

describe("pnpm start (cluster-demo.ts)", () => {
  it("runs a small cluster through a kill -9, a restart and a read-back, and exits 0 with a good summary", async () => {
    const { code, out } = await runDemo([
      "--groups",
      "20",
      "--seconds",
      "6",
      "--inflight",
      "32",
      "--verify",
      "200",
    ]);
    const last = out.trim().split("\n").at(-1) ?? "";
    expect(code, out).toBe(0);
    const summary = JSON.parse(last) as {
      acked: number;
      appended: number;
      verified: boolean;
      leaderlessMs: number;
      catchUpMs: number | null;
      killedLed: number;
      cdcDelivered: number;
      cdcMissing: number;
      cdcOrderViolations: number;
      cdcDuplicates: number;
    };
    expect(summary.acked).toBeGreaterThan(0);
    expect(summary.acked).toBeLessThanOrEqual(summary.appended);
    expect(summary.verified).toBe(true);
    expect(summary.killedLed).toBeGreaterThan(0);
    expect(summary.leaderlessMs).toBeGreaterThan(0);
    expect(summary.catchUpMs).not.toBeNull();
    expect(out).toContain("kill -9");
    // The CDC stream over all groups saw every acknowledged append once, in CSN order, through the kill.
    expect(summary.cdcDelivered).toBeGreaterThanOrEqual(summary.acked);
    expect([summary.cdcMissing, summary.cdcOrderViolations, summary.cdcDuplicates]).toEqual([0, 0, 0]);
  }, 90_000);
});
