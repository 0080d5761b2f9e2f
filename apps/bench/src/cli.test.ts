import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { benches } from "./benches.ts";
import { EXIT_OK, EXIT_USAGE, runBenchCli } from "./cli.ts";
import { UsageError } from "./flags.ts";

const mainTs = fileURLToPath(new URL("./main.ts", import.meta.url));
const root = fileURLToPath(new URL("../../..", import.meta.url));

async function run(argv: string[], table = benches) {
  let out = "";
  let err = "";
  const code = await runBenchCli(argv, { out: (s) => (out += s), err: (s) => (err += s) }, table);
  return { code, out, err };
}

describe("palf bench command line", () => {
  it.each(benches.map((b) => b.name))(
    "`%s --help` lists its flags and exits 0 without running",
    async (name) => {
      const r = await run([name, "--help"]);
      expect(r.code).toBe(EXIT_OK);
      expect(r.out).toContain(`Usage: palf bench ${name} [options]`);
      expect(r.out).toMatch(/--seconds|--groups/);
      expect(r.out).not.toContain("--worker");
    },
  );

  it("`--help` lists every bench", async () => {
    const r = await run(["--help"]);
    expect(r.code).toBe(EXIT_OK);
    for (const b of benches) expect(r.out).toContain(b.name);
  });

  it("an unknown flag, an unknown bench or no bench at all exits 2 with a message", async () => {
    const flag = await run(["append", "--no-such-flag", "1"]);
    expect(flag.code).toBe(EXIT_USAGE);
    expect(flag.err).toContain("unknown option '--no-such-flag'");
    const bench = await run(["nope"]);
    expect(bench.code).toBe(EXIT_USAGE);
    expect(bench.err).toContain("unknown command 'nope'");
    expect((await run([])).code).toBe(EXIT_USAGE);
  });

  it("a bad flag value the bench rejects exits 2 naming the flag, before anything starts", async () => {
    for (const argv of [
      ["append", "--rate", "0"],
      ["append", "--seconds", "3", "--count", "10"],
      ["append", "--readers", "both"],
      ["append", "--nats", "nats://127.0.0.1:1", "--pass-file", "/no/such/file"],
      ["core", "--groups", "x"],
    ]) {
      const r = await run(argv);
      expect(r.code, argv.join(" ")).toBe(EXIT_USAGE);
      expect(r.err, argv.join(" ")).toMatch(/^palf bench \w+: /);
    }
  });

  it("runs the chosen bench with its own argv; a bench without flag list gets any flag passed through", async () => {
    const seen: string[][] = [];
    const table = [
      {
        name: "fake",
        summary: "a bench without flags",
        load: async () => ({
          main: async (argv: string[]) => {
            seen.push(argv);
            if (argv.includes("--bad")) throw new UsageError("--bad is bad");
          },
        }),
      },
    ];
    expect((await run(["fake", "--anything", "7"], table)).code).toBe(EXIT_OK);
    expect(seen).toEqual([["--anything", "7"]]);
    const bad = await run(["fake", "--bad"], table);
    expect(bad.code).toBe(EXIT_USAGE);
    expect(bad.err).toBe("palf bench fake: --bad is bad\n");
  });

  it("as a process (`pnpm bench`): append --help exits 0, a bad flag exits 2 with the message on stderr", () => {
    const help = spawnSync(process.execPath, ["--import", "tsx", mainTs, "append", "--help"], {
      cwd: root,
      encoding: "utf8",
    });
    expect(help.status, help.stderr).toBe(0);
    expect(help.stdout).toContain("--rate <n>");
    const bad = spawnSync(process.execPath, ["--import", "tsx", mainTs, "append", "--bogus"], {
      cwd: root,
      encoding: "utf8",
    });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain("unknown option '--bogus'");
  });
});
