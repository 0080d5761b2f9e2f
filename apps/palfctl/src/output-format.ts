import { type Command, Option } from "commander";
import type { CliIo } from "./cli.ts";

/** `-o table|json`: how palfctl prints results. */
export type OutputFormat = "table" | "json";

/** The global `-o` option; no default, so each command keeps its own (JSON lines, a table for `groups`). */
export function outputOption(): Option {
  return new Option(
    "-o, --output <format>",
    "print results as JSON lines or as a table (default: json; a table for groups and context ls)",
  ).choices(["table", "json"]);
}

/** Commands whose default is a table: they are read by people, not scripts. */
const TABLE_BY_DEFAULT = new Set(["context ls"]);
/** Commands that print until Ctrl-C: their table is printed row by row, never held back. */
const STREAMING = new Set(["tail"]);

/**
 * Sits between the commands and `io.out`. Commands keep printing one JSON line per result; with a table
 * format the lines become rows, printed when the command ends. A line that is not a JSON object (a table
 * a command formats itself, help text) passes through unchanged.
 */
export class OutputSink {
  readonly io: CliIo;
  private format: OutputFormat = "json";
  private streaming = false;
  private rows: Record<string, string>[] = [];
  private columns: string[] | undefined;

  constructor(private readonly base: CliIo) {
    this.io = { ...base, out: (line) => this.write(line) };
  }

  /** Reads `-o` just before a command's action runs. */
  attach(program: Command): void {
    program.hook("preAction", (_program, action) => {
      const chosen = program.opts<{ output?: OutputFormat }>().output;
      this.format = chosen ?? (TABLE_BY_DEFAULT.has(commandPath(action)) ? "table" : "json");
      this.streaming = STREAMING.has(commandPath(action));
    });
  }

  /** The format the running command prints in (for a command that formats its own table). */
  get current(): OutputFormat {
    return this.format;
  }

  /** Prints the rows held back; call once the command ended, also after it failed. */
  end(): void {
    if (this.rows.length > 0) for (const line of renderTable(this.rows)) this.base.out(line);
    this.rows = [];
  }

  private write(line: string): void {
    const row = this.format === "table" ? rowOf(line) : undefined;
    if (row === undefined) {
      this.base.out(line);
      return;
    }
    if (!this.streaming) {
      this.rows.push(row);
      return;
    }
    // Row by row: the first row fixes the columns and the header; later keys go to the end as k=v.
    if (this.columns === undefined) {
      this.columns = Object.keys(row);
      this.base.out(this.columns.map(heading).join("\t"));
    }
    const cols = this.columns;
    const extra = Object.keys(row)
      .filter((k) => !cols.includes(k))
      .map((k) => `${k}=${row[k]}`);
    this.base.out([...cols.map((k) => row[k] ?? "-"), ...extra].join("\t"));
  }
}

/** "member add" for `palfctl member add`. */
export function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/** A JSON object line as flat cells (nested objects as dotted columns); anything else undefined. */
function rowOf(line: string): Record<string, string> | undefined {
  if (!line.startsWith("{")) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return undefined;
  const row: Record<string, string> = {};
  flatten(value as Record<string, unknown>, "", row);
  return row;
}

function flatten(obj: Record<string, unknown>, prefix: string, into: Record<string, string>): void {
  for (const [k, v] of Object.entries(obj)) {
    const key = prefix + k;
    if (v !== null && typeof v === "object" && !Array.isArray(v))
      flatten(v as Record<string, unknown>, `${key}.`, into);
    else into[key] = cell(v);
  }
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return "-";
  if (Array.isArray(v))
    return v.every((x) => x === null || typeof x !== "object")
      ? v.map((x) => String(x)).join(",") || "-"
      : JSON.stringify(v);
  return String(v);
}

function heading(key: string): string {
  return key.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/**
 * Aligned columns: `columns`, or the union of the rows' keys in order of first appearance; "-" where a row
 * has none. No rows and no columns: no lines.
 */
export function renderTable(rows: readonly Record<string, string>[], fixed?: readonly string[]): string[] {
  const columns: string[] = [...(fixed ?? [])];
  if (rows.length === 0 && columns.length === 0) return [];
  for (const r of rows) for (const k of Object.keys(r)) if (!columns.includes(k)) columns.push(k);
  const cells = [columns.map(heading), ...rows.map((r) => columns.map((k) => r[k] ?? "-"))];
  const widths = columns.map((_, i) => Math.max(...cells.map((c) => c[i]!.length)));
  return cells.map((c) =>
    c
      .map((v, i) => v.padEnd(widths[i]!))
      .join("  ")
      .trimEnd(),
  );
}
