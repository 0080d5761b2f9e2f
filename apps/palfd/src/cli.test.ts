import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const main = fileURLToPath(new URL("./main.ts", import.meta.url));
const palfd = (...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", main, ...args], { encoding: "utf8", timeout: 30_000 });
const palfdWithEnv = (env: Record<string, string>, ...args: string[]) =>
  spawnSync(process.execPath, ["--import", "tsx", main, ...args], {
    encoding: "utf8",
    timeout: 30_000,
    env: { ...process.env, ...env },
  });

describe("palfd command line", () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "palfd-cli-"));

  it("refuses missing or bad flags with exit 2 and says which", () => {
    const noData = palfd("--node", "n1");
    expect(noData.status).toBe(2);
    expect(noData.stderr).toMatch(/--data/);
    const badId = palfd("--node", "a.b", "--data", tmp);
    expect(badId.status).toBe(2);
    expect(badId.stderr).toMatch(/--node/);
    const badShards = palfd("--node", "n1", "--data", tmp, "--shards", "0");
    expect(badShards.status).toBe(2);
    expect(badShards.stderr).toMatch(/positive integer/);
  });

  it("refuses a data dir that is a file, and unreadable credentials, with exit 2", () => {
    const file = path.join(tmp, "not-a-dir");
    fs.writeFileSync(file, "x");
    const res = palfd("--node", "n1", "--data", file);
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/data dir .* is not usable/);
    const creds = palfd(
      "--node",
      "n1",
      "--data",
      path.join(tmp, "d"),
      "--creds",
      path.join(tmp, "missing.creds"),
    );
    expect(creds.status).toBe(2);
    expect(creds.stderr).toMatch(/cannot read --creds/);
  });

  it("refuses a config file with an unknown key, and a bad PALFD_ variable, with exit 2 naming it", () => {
    const file = path.join(tmp, "palfd.yaml");
    fs.writeFileSync(file, `node: n1\ndata: ${path.join(tmp, "d3")}\nshard: 2\n`);
    const res = palfd("--config", file);
    expect(res.status).toBe(2);
    expect(res.stderr).toMatch(/palfd\.yaml: unknown key "shard"/);
    const env = palfdWithEnv({ PALFD_NODE: "a.b", PALFD_DATA: path.join(tmp, "d4") });
    expect(env.status).toBe(2);
    expect(env.stderr).toMatch(/PALFD_NODE: must match/);
    const pass = palfd("--node", "n1", "--data", path.join(tmp, "d5"), "--pass-file", path.join(tmp, "none"));
    expect(pass.status).toBe(2);
    expect(pass.stderr).toMatch(/cannot read --pass-file/);
  });

  it("refuses an empty secret file and a password without a user, with exit 2 naming the flag", () => {
    const empty = path.join(tmp, "empty-pass");
    fs.writeFileSync(empty, "\n");
    const emptyPass = palfd(
      "--node",
      "n1",
      "--data",
      path.join(tmp, "d6"),
      "--user",
      "n1",
      "--pass-file",
      empty,
    );
    expect(emptyPass.status).toBe(2);
    expect(emptyPass.stderr).toMatch(/--pass-file .*empty-pass is empty/);
    fs.writeFileSync(empty, "pw\n");
    const noUser = palfd("--node", "n1", "--data", path.join(tmp, "d7"), "--pass-file", empty);
    expect(noUser.status).toBe(2);
    expect(noUser.stderr).toMatch(/--pass-file needs a user/);
  });

  it("exits 1 with a clear message when NATS cannot be reached", () => {
    const res = palfd("--node", "n1", "--data", path.join(tmp, "d2"), "--nats", "nats://127.0.0.1:1");
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/cannot reach NATS at nats:\/\/127\.0\.0\.1:1/);
  });
});
