import { describe, expect, it } from "vitest";
import { runCli } from "./cli.ts";
import { renderTable } from "./output-format.ts";
import { palfctlHarness } from "./palfctl.test-support.ts";

describe("palfctl -o table|json", () => {
  it("prints JSON lines by default and with -o json, an aligned table with -o table", async () => {
    const { cluster, io, out, lines } = palfctlHarness();
    cluster.addGroup(4, ["n1"], "n1");
    expect(await runCli(["append", "4", "a", "bb"], io())).toBe(0);
    lines();
    expect(await runCli(["read", "4"], io())).toBe(0);
    const json = lines();
    expect(await runCli(["-o", "json", "read", "4"], io())).toBe(0);
    expect(lines()).toEqual(json);
    expect(json.map((l) => l.text)).toEqual(["a", "bb"]);

    expect(await runCli(["read", "4", "-o", "table"], io())).toBe(0);
    const table = out.splice(0);
    expect(table).toHaveLength(3);
    expect(table[0]).toMatch(/^GROUP\s+LSN\s+CSN\s+TEXT$/);
    const cells = table.slice(1).map((l) => l.split(/\s+/));
    expect(cells).toEqual(json.map((l) => [String(l.group), String(l.lsn), String(l.csn), String(l.text)]));
    // Aligned: every row starts its columns where the header does.
    const at = (line: string) => line.indexOf(line.trim().split(/\s+/)[2]!);
    expect(new Set(table.map(at)).size).toBe(1);
  });

  it("shows nested results as dotted columns and a failed call prints no table", async () => {
    const { cluster, io, out, err } = palfctlHarness();
    cluster.addGroup(1, ["n1", "n2"], "n1");
    expect(await runCli(["-o", "table", "status", "--node", "n2"], io())).toBe(0);
    expect(out.splice(0)[0]).toMatch(/^NODE\s+STATUS\.NODE\s+STATUS\.GROUPS$/);
    expect(await runCli(["-o", "table", "--timeout", "200", "read", "99"], io())).toBe(1);
    expect(out).toEqual([]);
    expect(err.join("")).toMatch(/UNKNOWN_GROUP/);
  });

  it("keeps groups a table by default and gives JSON lines for -o json (as --json does)", async () => {
    const { cluster, io, out, lines } = palfctlHarness();
    cluster.addGroup(1, ["n1", "n2", "n3"], "n1");
    expect(await runCli(["groups"], io())).toBe(0);
    expect(out.splice(0)[0]).toMatch(/^GROUP\s+LEADER\s+MEMBERS/);
    expect(await runCli(["groups", "-o", "table"], io())).toBe(0);
    expect(out.splice(0)[0]).toMatch(/^GROUP\s+LEADER\s+MEMBERS/);
    expect(await runCli(["groups", "--json"], io())).toBe(0);
    const viaFlag = lines();
    expect(await runCli(["-o", "json", "groups"], io())).toBe(0);
    expect(lines()).toEqual(viaFlag);
    expect(viaFlag).toMatchObject([{ group: 1, leader: "n1" }]);
  });

  it("prints tail's table row by row while it runs", async () => {
    const { cluster, io, out } = palfctlHarness();
    cluster.addGroup(2, ["n1"], "n1");
    cluster.appendDirect(2, "first");
    const stop = new AbortController();
    const running = runCli(["-o", "table", "tail", "2", "--poll", "2"], io(stop.signal));
    // The header and the first row come before tail ends.
    while (out.length < 2) await new Promise((r) => setTimeout(r, 2));
    expect(out[0]).toBe("GROUP\tLSN\tCSN\tTEXT");
    expect(out[1]).toMatch(/^2\t0\t\d+\tfirst$/);
    stop.abort();
    expect(await running).toBe(0);
  });

  it("refuses an unknown format with exit 2", async () => {
    const { io, err } = palfctlHarness();
    expect(await runCli(["-o", "yaml", "timestamp"], io())).toBe(2);
    expect(err.join("")).toMatch(/argument 'yaml' is invalid. Allowed choices are table, json/);
  });
});

describe("renderTable", () => {
  it("prints the header of fixed columns with no rows, and nothing for no rows and no columns", () => {
    expect(renderTable([], ["group", "leader"])).toEqual(["GROUP  LEADER"]);
    expect(renderTable([])).toEqual([]);
    expect(renderTable([{ a: "1" }, { b: "22" }])).toEqual(["A  B", "1  -", "-  22"]);
  });
});
