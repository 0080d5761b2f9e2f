import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { HistogramLogReader } from "hdr-histogram-js";
import { afterEach, describe, expect, it } from "vitest";
import { RunRecorder } from "./run-recorder.ts";
import { summaryTable, writeReport } from "./run-report.ts";

/** A recorded 3-second run: 100, 200 and 50 acks with latencies 1..k ms, one error, reader deliveries. */
function recordedRun(): RunRecorder {
  const epoch = 1_800_000_000_000;
  const r = new RunRecorder(epoch);
  [100, 200, 50].forEach((acks, second) => {
    for (let k = 1; k <= acks; k++) r.ack(epoch + second * 1000 + 5, k, k / 2, 256);
    r.delivered(epoch + second * 1000 + 7, 3);
  });
  r.error(epoch + 1500, "TIMEOUT");
  return r;
}

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("the load tester's report", () => {
  it("writes a per-second CSV, an HDR log that reads back to the same counts, and an HTML report with three charts", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-report-"));
    dirs.push(dir);
    const r = recordedRun();
    const summary = { bench: "append", ackedPerS: 117, p99Ms: 198 };
    const files = await writeReport(dir, r, summary, { title: "test run", targetRate: 150 });
    expect(files.map((f) => path.basename(f)).sort()).toEqual([
      "latency.hlog",
      "per-second.csv",
      "report.html",
      "summary.json",
    ]);

    const csv = fs.readFileSync(path.join(dir, "per-second.csv"), "utf8").trim().split("\n");
    expect(csv[0]).toMatch(/^second,acked_per_s,mb_per_s,errors,p50_ms,p90_ms,p99_ms,p999_ms,max_ms/);
    const rows = csv.slice(1).map((l) => l.split(","));
    expect(rows.map((c) => [c[0], c[1], c[3]])).toEqual([
      ["0", "100", "0"],
      ["1", "200", "1"],
      ["2", "50", "0"],
    ]);
    // Second 1: latencies 1..200 ms, so p99 is 198 ms (within HDR's 3 significant digits).
    expect(Number(rows[1]![6])).toBeCloseTo(198, 0);

    const reader = new HistogramLogReader(fs.readFileSync(path.join(dir, "latency.hlog"), "utf8"));
    const counts: number[] = [];
    for (let h = reader.nextIntervalHistogram(); h; h = reader.nextIntervalHistogram())
      if (h.tag !== "service") counts.push(h.totalCount);
    expect(counts).toEqual([100, 200, 50]);

    const html = fs.readFileSync(path.join(dir, "report.html"), "utf8");
    expect(html.match(/<svg[\s>]/g)?.length).toBe(3);
    for (const title of [
      "Throughput per second",
      "Append latency per second",
      "Latency percentiles over the whole run",
    ])
      expect(html).toContain(title);
    expect(JSON.parse(fs.readFileSync(path.join(dir, "summary.json"), "utf8"))).toEqual(summary);
  });

  it("merges seconds sent by client processes into the same totals", () => {
    const whole = recordedRun();
    const parent = new RunRecorder(whole.epochMs);
    for (const s of recordedRun().takeJson()) parent.mergeJson(s);
    for (const s of recordedRun().takeJson()) parent.mergeJson(s);
    expect(parent.total().acked).toBe(2 * whole.total().acked);
    expect(parent.total().latency.totalCount).toBe(2 * whole.total().latency.totalCount);
    expect(parent.total().errors).toEqual({ TIMEOUT: 2 });
    // The running counts the progress bar reads agree with the merged histograms.
    expect(parent.counts).toEqual({ acked: 700, errors: 2, delivered: 6 });
  });

  it("prints the summary as an aligned two-column table", () => {
    expect(summaryTable({ ackedPerS: 5, readers: { kind: "tail" } }).split("\n")).toEqual([
      "ackedPerS  5",
      'readers    {"kind":"tail"}',
    ]);
  });
});
