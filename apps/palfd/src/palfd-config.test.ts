import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, palfdCommand, resolvePalfdConfig } from "./palfd-config.ts";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "palfd-config-"));
const yamlFile = (name: string, text: string) => {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, text);
  return file;
};
/** Flags as commander parses them from an argv. */
const flags = (...argv: string[]) =>
  palfdCommand().exitOverride().parse(argv, { from: "user" }).opts<Record<string, unknown>>();
const resolve = (argv: string[], env: Record<string, string> = {}) =>
  resolvePalfdConfig({ flags: flags(...argv), env });
const errorOf = (f: () => unknown): string => {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("expected a ConfigError");
};

describe("palfd settings: flags > PALFD_* env > --config file > defaults", () => {
  const file = yamlFile(
    "palfd.yaml",
    [
      "node: n-file",
      "data: /var/lib/palf/file",
      "lease-ms: 3000",
      "shards: 4",
      "nats: [nats://a:4222, nats://b:4222]",
      "http: 0.0.0.0:9464",
      "peers: [n1, n2, n3]",
      "pass-file: /run/secrets/nats-pass",
      "",
    ].join("\n"),
  );

  it("a setting in the file is used when neither a flag nor a variable sets it", () => {
    const c = resolve(["--config", file]);
    expect(c).toMatchObject({
      node: "n-file",
      data: "/var/lib/palf/file",
      leaseMs: 3000,
      shards: 4,
      nats: ["nats://a:4222", "nats://b:4222"],
      http: { host: "0.0.0.0", port: 9464 },
      peers: ["n1", "n2", "n3"],
      passFile: "/run/secrets/nats-pass",
      cluster: "palf",
      logLevel: "info",
    });
  });

  it("a variable beats the file, and a flag beats both", () => {
    const env = { PALFD_LEASE_MS: "2000", PALFD_NODE: "n-env", PALFD_CONFIG: file };
    const fromEnv = resolve([], env);
    expect(fromEnv.leaseMs).toBe(2000);
    expect(fromEnv.node).toBe("n-env");
    expect(fromEnv.shards).toBe(4);
    const fromFlag = resolve(["--lease-ms", "1500", "--node", "n-flag"], env);
    expect(fromFlag.leaseMs).toBe(1500);
    expect(fromFlag.node).toBe("n-flag");
    expect(fromFlag.data).toBe("/var/lib/palf/file");
  });

  it("defaults fill what no source sets; http stays off", () => {
    const c = resolve(["--node", "n1", "--data", "/d"]);
    expect(c.nats).toEqual(["nats://127.0.0.1:4222"]);
    expect(c.leaseMs).toBe(4000);
    expect(c.http).toBeUndefined();
    expect(c.shards).toBeUndefined();
  });

  it("an unknown key in the file is refused, naming the file and the key", () => {
    const bad = yamlFile("bad-key.yaml", "node: n1\ndata: /d\nleas-ms: 100\n");
    expect(errorOf(() => resolve(["--config", bad]))).toMatch(/bad-key\.yaml: unknown key "leas-ms"/);
  });

  it("a bad value is refused, naming where it came from", () => {
    const badValue = yamlFile("bad-value.yaml", "node: n1\ndata: /d\nlease-ms: soon\n");
    expect(errorOf(() => resolve(["--config", badValue]))).toMatch(
      /bad-value\.yaml: lease-ms: must be a positive integer, got "soon"/,
    );
    expect(errorOf(() => resolve(["--node", "n1", "--data", "/d"], { PALFD_SHARDS: "0" }))).toMatch(
      /PALFD_SHARDS: must be a positive integer/,
    );
    expect(errorOf(() => resolve(["--node", "n1", "--data", "/d", "--http", "9464"]))).toMatch(
      /--http: must be host:port/,
    );
    expect(errorOf(() => resolve(["--node", "n1", "--data", "/d"], { PALFD_LEASEMS: "1" }))).toMatch(
      /PALFD_LEASEMS: unknown setting/,
    );
    const notYaml = yamlFile("not-yaml.yaml", "node: [n1\n");
    expect(errorOf(() => resolve(["--config", notYaml]))).toMatch(/not-yaml\.yaml: not valid YAML/);
  });

  it("secrets are taken from files only: a password or token given as a value is refused", () => {
    expect(errorOf(() => resolve(["--node", "n1", "--data", "/d", "--pass", "hunter2"]))).toMatch(
      /--pass: .*use --pass-file/,
    );
    expect(errorOf(() => resolve(["--node", "n1", "--data", "/d"], { PALFD_TOKEN: "t" }))).toMatch(
      /PALFD_TOKEN: .*use PALFD_TOKEN_FILE/,
    );
    const inFile = yamlFile("secret.yaml", "node: n1\ndata: /d\npass: hunter2\n");
    expect(errorOf(() => resolve(["--config", inFile]))).toMatch(/secret\.yaml: pass: .*use pass-file/);
  });

  it("commit points ride on the next push by default (100 ms); 0 turns the delay off, a negative value is refused", () => {
    const base = ["--node", "n1", "--data", "/d"];
    expect(resolve(base).commitInfoDelayMs).toBe(100);
    expect(resolve([...base, "--commit-info-delay-ms", "0"]).commitInfoDelayMs).toBe(0);
    expect(resolve(base, { PALFD_COMMIT_INFO_DELAY_MS: "20" }).commitInfoDelayMs).toBe(20);
    expect(errorOf(() => resolve([...base, "--commit-info-delay-ms", "-5"]))).toMatch(
      /commit-info-delay-ms.*non-negative integer/,
    );
  });

  it("node and data are required, and the message says how to give them", () => {
    expect(errorOf(() => resolve(["--node", "n1"]))).toMatch(/data is required: --data, PALFD_DATA/);
  });
});
