import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCli } from "./cli.ts";
import { contextStorePath } from "./contexts.ts";
import { palfctlHarness } from "./palfctl.test-support.ts";

describe("palfctl contexts", () => {
  it("saves, lists, selects and removes contexts in a 0600 file that holds file paths, not secrets", async () => {
    const { home, io, lines, out } = palfctlHarness();
    const passFile = join(home, "nats.pass");
    writeFileSync(passFile, "s3cret-password\n", { mode: 0o600 });
    const save = ["context", "save", "prod", "--nats", "nats://a:4222,nats://b:4222", "--cluster", "prod"];
    expect(
      await runCli([...save, "--nodes", "p1,p2", "--user", "admin", "--pass-file", passFile], io()),
    ).toBe(0);
    expect(lines()).toMatchObject([{ context: "prod", saved: true, current: false }]);
    expect(
      await runCli(["context", "save", "dev", "--nats", "nats://127.0.0.1:4222", "--select"], io()),
    ).toBe(0);
    expect(lines()).toMatchObject([{ context: "dev", current: true }]);

    const file = join(home, ".config", "palf", "contexts.json");
    expect(contextStorePath({ HOME: home })).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const stored = readFileSync(file, "utf8");
    expect(stored).toContain(passFile);
    expect(stored).not.toContain("s3cret-password");

    expect(await runCli(["context", "ls", "-o", "json"], io())).toBe(0);
    expect(lines()).toEqual([
      {
        name: "prod",
        current: false,
        nats: ["nats://a:4222", "nats://b:4222"],
        cluster: "prod",
        nodes: ["p1", "p2"],
        user: "admin",
        passFile,
        tokenFile: null,
        description: null,
      },
      expect.objectContaining({ name: "dev", current: true, nats: ["nats://127.0.0.1:4222"] }),
    ]);
    // A table by default: people read this one.
    expect(await runCli(["context", "ls"], io())).toBe(0);
    const table = out.splice(0);
    expect(table[0]).toMatch(/^NAME\s+CURRENT\s+NATS/);
    expect(table[1]).toMatch(/^prod\s+false\s+nats:\/\/a:4222,nats:\/\/b:4222\s+prod\s+p1,p2\s+admin/);

    // Updating changes only what is given.
    expect(await runCli(["context", "save", "prod", "--description", "production"], io())).toBe(0);
    expect(await runCli(["context", "use", "prod"], io())).toBe(0);
    lines();
    expect(await runCli(["context", "ls", "-o", "json"], io())).toBe(0);
    expect(lines()[0]).toMatchObject({
      name: "prod",
      current: true,
      user: "admin",
      description: "production",
    });

    expect(await runCli(["context", "rm", "prod"], io())).toBe(0);
    expect(await runCli(["context", "rm", "dev"], io())).toBe(0);
    lines();
    expect(await runCli(["context", "ls", "-o", "json"], io())).toBe(0);
    expect(out).toEqual([]);
    expect(JSON.parse(readFileSync(file, "utf8"))).toEqual({ contexts: {} });
  });

  it("honours XDG_CONFIG_HOME", async () => {
    const { home, io } = palfctlHarness();
    const xdg = join(home, "xdg");
    const env = { ...io().env, XDG_CONFIG_HOME: xdg };
    expect(await runCli(["context", "save", "x", "--nats", "nats://h:1"], { ...io(), env })).toBe(0);
    expect(JSON.parse(readFileSync(join(xdg, "palf", "contexts.json"), "utf8")).contexts.x).toEqual({
      nats: ["nats://h:1"],
    });
  });

  it("connects with the selected context, reading the password from its file; flags and variables win", async () => {
    const { home, io, connects } = palfctlHarness({ cluster: "ctxc" });
    const passFile = join(home, "pass");
    writeFileSync(passFile, "from-file\n");
    const save = ["context", "save", "c1", "--nats", "nats://ctx:4222", "--cluster", "ctxc", "--nodes", "n1"];
    expect(await runCli([...save, "--user", "u1", "--pass-file", passFile, "--select"], io())).toBe(0);

    expect(await runCli(["timestamp"], io())).toBe(0);
    expect(connects.at(-1)).toMatchObject({
      servers: ["nats://ctx:4222"],
      cluster: "ctxc",
      nodes: ["n1"],
      connection: { user: "u1", pass: "from-file" },
    });
    // A flag beats the context.
    expect(await runCli(["--nats", "nats://flag:1", "timestamp"], io())).toBe(0);
    expect(connects.at(-1)).toMatchObject({ servers: ["nats://flag:1"], cluster: "ctxc" });
    // An environment variable beats the context too.
    const env = { ...io().env, PALF_NODES: "n1,n2", PALF_NATS_PASS: "from-env" };
    expect(await runCli(["timestamp"], { ...io(), env })).toBe(0);
    expect(connects.at(-1)).toMatchObject({ nodes: ["n1", "n2"], connection: { pass: "from-env" } });
    // --context picks another one than the selected.
    expect(
      await runCli(["context", "save", "c2", "--nats", "nats://other:4222", "--cluster", "ctxc"], io()),
    ).toBe(0);
    expect(await runCli(["--context", "c2", "timestamp"], io())).toBe(0);
    expect(connects.at(-1)).toMatchObject({ servers: ["nats://other:4222"] });
    expect(connects.at(-1)?.connection).not.toHaveProperty("pass");
  });

  it("gives usage errors (exit 2) for an unknown context, a missing secret file and a secret on the command line", async () => {
    const { home, io, err, connects } = palfctlHarness();
    expect(await runCli(["--context", "nope", "timestamp"], io())).toBe(2);
    expect(await runCli(["context", "use", "nope"], io())).toBe(2);
    const missing = join(home, "missing");
    expect(await runCli(["context", "save", "c", "--pass-file", missing], io())).toBe(2);
    expect(await runCli(["--pass", "hunter2", "timestamp"], io())).toBe(2);
    expect(await runCli(["--token", "t0ken", "timestamp"], io())).toBe(2);
    expect(await runCli(["context", "save", "bad/name"], io())).toBe(2);
    expect(connects).toEqual([]);
    const text = err.join("");
    expect(text).toMatch(/no context named "nope"[\s\S]*no context named "nope"/);
    expect(text).toMatch(/missing \(--pass-file\) does not exist/);
    expect(text).toMatch(/no secrets on the command line[\s\S]*--pass-file[\s\S]*--token-file/);
    expect(text).toMatch(/context names match/);
    expect(text).not.toMatch(/hunter2|t0ken/);
  });

  it("names the file when the store is broken, and exits 1", async () => {
    const { home, io, err } = palfctlHarness();
    expect(await runCli(["context", "save", "c", "--nats", "nats://h:1"], io())).toBe(0);
    const file = contextStorePath({ HOME: home });
    writeFileSync(file, JSON.stringify({ contexts: { c: { nats: ["nats://h:1"], password: "x" } } }));
    expect(await runCli(["context", "ls"], io())).toBe(1);
    expect(err.join("")).toContain(`${file}: context "c" has an unknown key "password"`);
  });
});
