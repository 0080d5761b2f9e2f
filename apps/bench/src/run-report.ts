// What `palf bench append` leaves behind: the summary table on the terminal, and with `--out DIR` a CSV of
// per-second rates and percentiles, an HDR histogram log (one interval histogram per second, readable by
// HdrHistogram's tools), and an HTML report whose charts vega-lite renders to SVG.
import fs from "node:fs";
import path from "node:path";
import { HistogramLogWriter } from "hdr-histogram-js";
import { parse, View } from "vega";
import { compile, type TopLevelSpec } from "vega-lite";
import { percentileMs, type RunRecorder } from "./run-recorder.ts";

/** The percentiles the CSV, the charts and the summary show. */
export const PERCENTILES = [50, 90, 99, 99.9] as const;

/** One line per second of the run. */
export interface SecondRow {
  readonly second: number;
  readonly ackedPerS: number;
  readonly MBps: number;
  readonly errors: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  readonly readPerS: number;
  readonly readLagP99Ms: number;
}

export function secondRows(recorder: RunRecorder): SecondRow[] {
  return recorder.rows().map(({ second, stats: s }) => ({
    second,
    ackedPerS: s.acked,
    MBps: s.bytes / 1e6,
    errors: s.errorCount(),
    p50Ms: percentileMs(s.latency, 50),
    p90Ms: percentileMs(s.latency, 90),
    p99Ms: percentileMs(s.latency, 99),
    p999Ms: percentileMs(s.latency, 99.9),
    maxMs: s.latency.totalCount === 0 ? Number.NaN : s.latency.maxValue / 1000,
    readPerS: s.delivered,
    readLagP99Ms: percentileMs(s.lag, 99),
  }));
}

const num = (v: number, digits = 3) =>
  Number.isNaN(v) ? "" : String(Math.round(v * 10 ** digits) / 10 ** digits);

export function csvOf(rows: readonly SecondRow[]): string {
  const head =
    "second,acked_per_s,mb_per_s,errors,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,read_per_s,read_lag_p99_ms";
  const lines = rows.map((r) =>
    [
      r.second,
      r.ackedPerS,
      num(r.MBps),
      r.errors,
      num(r.p50Ms),
      num(r.p90Ms),
      num(r.p99Ms),
      num(r.p999Ms),
      num(r.maxMs),
      r.readPerS,
      num(r.readLagP99Ms),
    ].join(","),
  );
  return `${[head, ...lines].join("\n")}\n`;
}

/** The HDR log: per second, the latency histogram (untagged) and the service-time one (tag "service"). */
export function hdrLogOf(recorder: RunRecorder, comment: string): string {
  let text = "";
  const writer = new HistogramLogWriter((s: string) => {
    text += s;
  });
  writer.outputComment(comment);
  writer.outputLogFormatVersion();
  writer.outputStartTime(recorder.epochMs);
  writer.baseTime = recorder.epochMs;
  writer.outputLegend();
  for (const { second, stats } of recorder.rows()) {
    const from = recorder.epochMs + second * 1000;
    for (const [h, tag] of [
      [stats.latency, undefined],
      [stats.service, "service"],
    ] as const) {
      h.startTimeStampMsec = from;
      h.endTimeStampMsec = from + 1000;
      if (tag) h.tag = tag;
      writer.outputIntervalHistogram(h);
    }
  }
  return text;
}

/** Renders a vega-lite spec to SVG (no canvas needed: the 'none' renderer). */
export async function svgOf(spec: TopLevelSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

const chartBase = {
  $schema: "https://vega.github.io/schema/vega-lite/v6.json",
  width: 760,
  height: 260,
  config: {
    font: "sans-serif",
    axis: { labelFontSize: 12, titleFontSize: 13 },
    legend: { labelFontSize: 12 },
  },
} as const;

const BOTTOM_LEGEND = { orient: "bottom", direction: "horizontal", labelLimit: 400 } as const;
/** Whole seconds on the time axis. */
const SECOND_AXIS = { tickMinStep: 1, format: "d" } as const;

export function throughputSpec(rows: readonly SecondRow[], targetRate: number | undefined): TopLevelSpec {
  const values: Array<{ second: number; series: string; perS: number }> = [];
  for (const r of rows) {
    values.push({ second: r.second, series: "appends acknowledged/s", perS: r.ackedPerS });
    if (r.readPerS > 0) values.push({ second: r.second, series: "entries read/s", perS: r.readPerS });
    if (targetRate !== undefined) values.push({ second: r.second, series: "target rate", perS: targetRate });
    if (r.errors > 0) values.push({ second: r.second, series: "errors/s", perS: r.errors });
  }
  return {
    ...chartBase,
    title: "Throughput per second",
    data: { values },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "second", type: "quantitative", title: "second of the run", axis: SECOND_AXIS },
      y: { field: "perS", type: "quantitative", title: "per second" },
      color: { field: "series", type: "nominal", title: null, legend: BOTTOM_LEGEND },
    },
  };
}

export function latencyOverTimeSpec(rows: readonly SecondRow[]): TopLevelSpec {
  const values: Array<{ second: number; percentile: string; ms: number }> = [];
  for (const r of rows) {
    const pick: Array<[string, number]> = [
      ["p50", r.p50Ms],
      ["p90", r.p90Ms],
      ["p99", r.p99Ms],
      ["p99.9", r.p999Ms],
      ["max", r.maxMs],
    ];
    for (const [percentile, ms] of pick)
      if (!Number.isNaN(ms)) values.push({ second: r.second, percentile, ms });
  }
  return {
    ...chartBase,
    title: "Append latency per second (from the intended send time)",
    data: { values },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "second", type: "quantitative", title: "second of the run", axis: SECOND_AXIS },
      y: { field: "ms", type: "quantitative", title: "ms (log scale)", scale: { type: "log" } },
      color: {
        field: "percentile",
        type: "nominal",
        sort: ["p50", "p90", "p99", "p99.9", "max"],
        title: null,
        legend: BOTTOM_LEGEND,
      },
    },
  };
}

const DISTRIBUTION = [0, 50, 75, 90, 95, 99, 99.9, 99.99, 100] as const;

export function distributionSpec(recorder: RunRecorder): TopLevelSpec {
  const total = recorder.total();
  const labels = DISTRIBUTION.map((p) => (p === 0 ? "min" : p === 100 ? "max" : `p${p}`));
  const values: Array<{ percentile: string; series: string; ms: number }> = [];
  for (const [series, h] of [
    ["latency (from intended send)", total.latency],
    ["service time (from actual send)", total.service],
    ["reader lag", total.lag],
  ] as const) {
    if (h.totalCount === 0) continue;
    DISTRIBUTION.forEach((p, i) => {
      const ms = p === 0 ? h.minNonZeroValue / 1000 : p === 100 ? h.maxValue / 1000 : percentileMs(h, p);
      values.push({ percentile: labels[i]!, series, ms });
    });
  }
  return {
    ...chartBase,
    title: "Latency percentiles over the whole run",
    data: { values },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "percentile", type: "ordinal", sort: labels, title: "percentile", axis: { labelAngle: 0 } },
      y: { field: "ms", type: "quantitative", title: "ms (log scale)", scale: { type: "log" } },
      color: { field: "series", type: "nominal", title: null, legend: BOTTOM_LEGEND },
    },
  };
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

/** The summary as label/value pairs (the terminal table and the HTML report show the same). */
export function summaryPairs(summary: Readonly<Record<string, unknown>>): Array<[string, string]> {
  return Object.entries(summary).map(([k, v]) => [
    k,
    typeof v === "object" && v !== null ? JSON.stringify(v) : String(v),
  ]);
}

/** A two-column text table. */
export function summaryTable(summary: Readonly<Record<string, unknown>>): string {
  const pairs = summaryPairs(summary);
  const w = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n");
}

export async function htmlOf(
  recorder: RunRecorder,
  summary: Readonly<Record<string, unknown>>,
  o: { readonly title: string; readonly targetRate?: number },
): Promise<string> {
  const rows = secondRows(recorder);
  const charts = await Promise.all([
    svgOf(throughputSpec(rows, o.targetRate)),
    svgOf(latencyOverTimeSpec(rows)),
    svgOf(distributionSpec(recorder)),
  ]);
  const table = summaryPairs(summary)
    .map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`)
    .join("\n");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(o.title)}</title>
<style>
body { font-family: sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin-bottom: 24px; }
th, td { text-align: left; padding: 2px 12px 2px 0; font-size: 14px; vertical-align: top; }
th { font-weight: 600; }
figure { margin: 0 0 24px 0; }
figure svg { max-width: 100%; height: auto; }
</style></head><body>
<h1>${escapeHtml(o.title)}</h1>
<p>Latency runs from each append's intended send time (open loop) to its committed acknowledgement;
per-second numbers in <a href="per-second.csv">per-second.csv</a>, full histograms in
<a href="latency.hlog">latency.hlog</a> (HdrHistogram log).</p>
<table>${table}</table>
${charts.map((svg) => `<figure>${svg}</figure>`).join("\n")}
</body></html>
`;
}

/** Writes per-second.csv, latency.hlog, summary.json and report.html into `dir`; returns the paths. */
export async function writeReport(
  dir: string,
  recorder: RunRecorder,
  summary: Readonly<Record<string, unknown>>,
  o: { readonly title: string; readonly targetRate?: number },
): Promise<string[]> {
  fs.mkdirSync(dir, { recursive: true });
  const files: Array<[string, string]> = [
    ["per-second.csv", csvOf(secondRows(recorder))],
    ["latency.hlog", hdrLogOf(recorder, o.title)],
    ["summary.json", `${JSON.stringify(summary, null, 2)}\n`],
    ["report.html", await htmlOf(recorder, summary, o)],
  ];
  return files.map(([name, text]) => {
    const p = path.join(dir, name);
    fs.writeFileSync(p, text);
    return p;
  });
}
