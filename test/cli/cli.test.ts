import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const tsx = (args: string[]) =>
  spawnSync("node", ["--import", "tsx", ...args], { cwd: root, encoding: "utf8", timeout: 120_000 });
const lastJson = (out: string) => JSON.parse(out.trim().split("\n").at(-1)!);

describe("command-line tools run as separate processes", () => {
  it("pnpm sim runs seeds and ends with a JSON summary and exit 0", () => {
    const res = tsx(["packages/testkit/src/sim-cli.ts", "--seeds", "8", "--start", "41", "--steps", "150"]);
    expect(res.status, res.stdout + res.stderr).toBe(0);
    const summary = lastJson(res.stdout);
    expect(summary.seeds).toBe(8);
    expect(summary.violations).toBe(0);
    expect(summary.committed).toBeGreaterThan(0);
    expect(summary.elections).toBeGreaterThan(0);
  });

  it("pnpm sim refuses bad flags with exit 2", () => {
    const res = tsx(["packages/testkit/src/sim-cli.ts", "--replicas", "4"]);
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/replicas/);
  });

  it("pnpm bench core commits entries and prints one JSON line", () => {
    const res = tsx(["apps/bench/src/main.ts", "core", "--groups", "4", "--seconds", "1"]);
    expect(res.status, res.stderr).toBe(0);
    const out = lastJson(res.stdout);
    expect(out.groups).toBe(4);
    expect(out.committedPerS).toBeGreaterThan(0);
    expect(out.failed).toBe(0);
  });

  it("pnpm bench refuses a bad flag with exit 2 and names it", () => {
    for (const bench of ["core", "wal", "append"]) {
      const res = tsx(["apps/bench/src/main.ts", bench, "--seconds", "0"]);
      expect(res.status, `${bench}: ${res.stderr}`).toBe(2);
      expect(res.stderr).toMatch(/--seconds must be a positive (integer|number)/);
    }
  });

  it("pnpm bench rejects an unknown benchmark", () => {
    const res = tsx(["apps/bench/src/main.ts", "nope"]);
    expect(res.status).toBe(2);
  });
});
