import { describe, expect, it } from "vitest";
import { ERROR_CODES, NODE_ERROR_CODES } from "./error-codes.ts";

describe("the one error table", () => {
  it("nodes answer every code but the three only the client produces", () => {
    expect(new Set(NODE_ERROR_CODES)).toEqual(
      new Set(Object.keys(ERROR_CODES).filter((c) => !["UNAVAILABLE", "CLOSED", "ABORTED"].includes(c))),
    );
    expect(NODE_ERROR_CODES).toContain("BAD_REQUEST");
    expect(NODE_ERROR_CODES).not.toContain("UNAVAILABLE");
  });

  it("says what each code means", () => {
    for (const [code, meaning] of Object.entries(ERROR_CODES)) {
      expect(code).toMatch(/^[A-Z_]+$/);
      expect(meaning.length, code).toBeGreaterThan(10);
    }
  });
});
