import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const demo = fileURLToPath(new URL("../../apps/kv/src/store-demo.ts", import.meta.url));

describe("pnpm start (apps/kv/src/store-demo.ts)", () => {
  it("runs the bank across partitions through a palfd kill and a store server kill and reports the invariant held", () => {
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", demo, "--seconds", "8", "--accounts", "50", "--concurrency", "8"],
      {
        encoding: "utf8",
        timeout: 240_000,
      },
    );
    const out = r.stdout ?? "";
    expect(out).toContain(">>> kill -9 palfd n2");
    expect(out).toContain(">>> kill -9 store server kv1");
    expect(out).toContain("HELD everywhere");
    const last = JSON.parse(out.trim().split("\n").pop()!) as {
      ok: boolean;
      finalSum: number;
      total: number;
    };
    expect(last.ok).toBe(true);
    expect(last.finalSum).toBe(last.total);
    expect(r.status).toBe(0);
  }, 300_000);
});
