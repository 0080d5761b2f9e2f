// biome-ignore-all lint/suspicious/noTemplateCurlyInString: the strings are shell commands, where ${...} is shell syntax.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { runCli } from "./cli.ts";
import { palfctlHarness } from "./palfctl.test-support.ts";

/** Every command path, found by reading `--help` (not the completion code), e.g. ["member", "add"]. */
async function commandPaths(): Promise<string[][]> {
  const paths: string[][] = [];
  const visit = async (path: string[]) => {
    const { io, out } = palfctlHarness();
    expect(await runCli([...path, "--help"], io())).toBe(0);
    const help = out.join("\n");
    expect(help).toContain(`Usage: palfctl${path.map((p) => ` ${p}`).join("")}`);
    const commands = help.split(/\nCommands:\n/)[1];
    if (commands === undefined) return;
    for (const line of commands.split("\n")) {
      const name = /^ {2}([a-z][a-z0-9-]*)/.exec(line)?.[1];
      if (name === undefined || name === "help") continue;
      paths.push([...path, name]);
      await visit([...path, name]);
    }
  };
  await visit([]);
  return paths;
}

describe("palfctl --help, bad flags, --version and completion", () => {
  let paths: string[][] = [];
  let scriptDir = "";
  beforeAll(async () => {
    paths = await commandPaths();
    scriptDir = mkdtempSync(join(tmpdir(), "palfctl-completion-"));
    for (const shell of ["bash", "zsh"]) {
      const { io, out } = palfctlHarness();
      expect(await runCli(["completion", shell], io())).toBe(0);
      writeFileSync(join(scriptDir, `palfctl.${shell}`), `${out.join("\n")}\n`);
    }
  });

  it("prints help for every subcommand (found through help itself)", () => {
    const names = paths.map((p) => p.join(" "));
    for (const c of ["status", "member add", "node replace", "cursors list", "context save", "completion"])
      expect(names).toContain(c);
  });

  it("exits 2 with a message for an unknown flag on every subcommand", async () => {
    for (const path of paths) {
      const { io, out, err } = palfctlHarness();
      expect(await runCli([...path, "--no-such-flag"], io()), path.join(" ")).toBe(2);
      expect(err.join(""), path.join(" ")).toMatch(
        // commander checks required options before unknown ones
        /unknown option '--no-such-flag'|required option '.*' not specified/,
      );
      expect(out).toEqual([]);
    }
  });

  it("prints the version from package.json", async () => {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
    for (const flag of ["--version", "-V"]) {
      const { io, out } = palfctlHarness();
      expect(await runCli([flag], io())).toBe(0);
      expect(out).toEqual([pkg.version]);
    }
  });

  it("the completion scripts name every subcommand", () => {
    for (const shell of ["bash", "zsh"]) {
      const script = readFileSync(join(scriptDir, `palfctl.${shell}`), "utf8");
      for (const path of paths) {
        const parent = path.slice(0, -1).join(" ");
        const line = script.split("\n").find((l) => l.startsWith(`    '${parent}')`));
        expect(line, `${shell}: ${path.join(" ")}`).toBeDefined();
        expect(line!.split(/[ ']+/), `${shell}: ${path.join(" ")}`).toContain(path.at(-1));
      }
    }
  });

  /** Runs the bash completion function for a command line ending in the word being completed. */
  const bash = (...words: string[]) =>
    execFileSync(
      "bash",
      [
        "-c",
        'source "$0"; COMP_WORDS=("${@}"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); _palfctl; echo "${COMPREPLY[*]}"',
        join(scriptDir, "palfctl.bash"),
        "palfctl",
        ...words,
      ],
      { encoding: "utf8" },
    ).trim();

  it("bash completes subcommands, options, choices and files at the right place", () => {
    expect(bash("").split(" ")).toEqual(
      expect.arrayContaining(["status", "member", "context", "--nats", "-o"]),
    );
    expect(bash("mem")).toBe("member");
    expect(bash("--nats", "nats://x:1", "member", "").split(" ")).toEqual(
      expect.arrayContaining(["add", "remove", "promote", "--nats", "--help"]),
    );
    expect(bash("member", "add", "--le")).toBe("--learner");
    expect(bash("-o", "")).toBe("table json");
    expect(bash("--nats", "")).toBe("");
    expect(bash("context", "save", "p", "--pass-file", join(scriptDir, "palfctl.b"))).toBe(
      join(scriptDir, "palfctl.bash"),
    );
  });

  it("zsh completes subcommands and choices with the same tree", () => {
    // compadd and _files exist only inside zsh's completion system; these stand-ins print what they get.
    const zsh = (...words: string[]) =>
      execFileSync(
        "zsh",
        [
          "-f",
          "-c",
          'compdef(){ :; }; compadd(){ shift; print -r -- "$*"; }; _files(){ print FILES; }; source "$0"; words=(palfctl "$@"); CURRENT=${#words}; _palfctl',
          join(scriptDir, "palfctl.zsh"),
          ...words,
        ],
        { encoding: "utf8" },
      ).trim();
    expect(zsh("node", "").split(" ")).toEqual(expect.arrayContaining(["replace", "drain", "--help"]));
    expect(zsh("--output", "")).toBe("table json");
    expect(zsh("--tls-ca", "")).toBe("FILES");
  });
});
