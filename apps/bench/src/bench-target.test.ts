import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { connectionOf } from "./bench-target.ts";
import { UsageError } from "./flags.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-bench-auth-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe("the bench's NATS credentials", () => {
  it("read the password from --pass-file without its trailing newline", () => {
    const passFile = path.join(dir, "pass");
    fs.writeFileSync(passFile, "s3cret\n");
    expect(connectionOf({ user: "bench", passFile }, {})).toMatchObject({ user: "bench", pass: "s3cret" });
  });

  it("refuse an empty secret file and a password without a user as usage errors", () => {
    const empty = path.join(dir, "empty");
    fs.writeFileSync(empty, "");
    expect(() => connectionOf({ user: "bench", passFile: empty }, {})).toThrow(UsageError);
    expect(() => connectionOf({ user: "bench", tokenFile: empty }, {})).toThrow(/--token-file .* is empty/);
    expect(() => connectionOf({}, { PALF_NATS_PASS: "pw" })).toThrow(/needs a user/);
    expect(() => connectionOf({ credsFile: path.join(dir, "missing") }, {})).toThrow(/cannot read --creds/);
  });
});
