import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { credentialsFromFiles, readSecretFile, SecretFileError } from "./nats-credentials.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-secret-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text, { mode: 0o600 });
  return p;
};

describe("secret files", () => {
  it("read as their text without the trailing newline `echo` adds (LF or CRLF), inner spaces kept", () => {
    expect(readSecretFile(file("lf", "s3cret\n"))).toBe("s3cret");
    expect(readSecretFile(file("crlf", "s3cret\r\n"))).toBe("s3cret");
    expect(readSecretFile(file("plain", " a b "))).toBe(" a b ");
  });

  it("refuse an empty file and a missing one, naming the flag and the file", () => {
    const empty = file("empty", "\n");
    expect(() => readSecretFile(empty, "--pass-file")).toThrow(SecretFileError);
    expect(() => readSecretFile(empty, "--pass-file")).toThrow(`--pass-file ${empty} is empty`);
    const missing = path.join(dir, "missing");
    expect(() => readSecretFile(missing, "--token-file")).toThrow(`cannot read --token-file ${missing}`);
  });

  it("give NATS a user with the password from its file, and a token alone", () => {
    expect(credentialsFromFiles({ user: "admin", passFile: file("p", "pw\n") })).toEqual({
      user: "admin",
      pass: "pw",
    });
    expect(credentialsFromFiles({ tokenFile: file("t", "tok\n") })).toEqual({ token: "tok" });
    expect(credentialsFromFiles({})).toEqual({});
  });

  it("refuse a password without a user", () => {
    expect(() => credentialsFromFiles({ passFile: file("p2", "pw\n") })).toThrow("--pass-file needs a user");
  });
});
