// Every switch in core's UnsafeSwitches must have a guard test here: a rule without one is unguarded.
import { readdirSync, readFileSync } from "node:fs";
import { unsafeSwitchNames } from "@palf/core";
import { describe, expect, it } from "vitest";

describe("guard coverage", () => {
  it("every UnsafeSwitches field is turned on by some guard test", () => {
    const dir = new URL(".", import.meta.url);
    const text = readdirSync(dir)
      .filter((f) => f.endsWith(".test.ts") && f !== "coverage.test.ts")
      .map((f) => readFileSync(new URL(f, dir), "utf8"))
      .join("\n");
    const unguarded = unsafeSwitchNames.filter((name) => !new RegExp(`\\b${name}: true\\b`).test(text));
    expect(unguarded).toEqual([]);
  });
});
