// The append load of the cluster benchmarks: `loops` append loops (one append in flight each) over groups
// 1..G through one client, counted inside a wall-clock window so that several client processes can be
// added up. Also: finding child processes and reading profiles.
import fs from "node:fs";
import { Session } from "node:inspector";
import path from "node:path";
import { type PalfClient, PalfError } from "@palf/client";
import { Histogram, sleep } from "./cluster-kit.ts";

export interface LoadOptions {
  readonly groups: number;
  readonly size: number;
  /** Append loops in this process. */
  readonly loops: number;
  /** Index of this process's first loop among all loops, and the number of loops in all processes. */
  readonly firstLoop: number;
  readonly totalLoops: number;
  /** Date.now() at which counting starts (earlier acks are warm-up) and at which loops stop. */
  readonly measureFrom: number;
  readonly measureTo: number;
  /** Called with each acknowledged append (for read-back checks). */
  readonly onAck?: (group: number, lsn: number, seq: number, payload: Uint8Array) => void;
  /** Distinct payloads per append (needed for read-back); otherwise one shared buffer. */
  readonly payload?: (group: number, seq: number) => Uint8Array;
}

export interface LoadResult {
  /** Appends acknowledged inside the window. */
  acked: number;
  /** Appends acknowledged in all (warm-up included). */
  ackedTotal: number;
  appended: number;
  bytes: number;
  errors: Record<string, number>;
  /** Latency (append call to committed ack) of the appends acknowledged inside the window. */
  latency: number[];
}

/** Runs the loops until measureTo and waits for the appends still in flight. */
export async function runLoad(client: PalfClient, o: LoadOptions): Promise<LoadResult> {
  const hist = new Histogram();
  const res: LoadResult = { acked: 0, ackedTotal: 0, appended: 0, bytes: 0, errors: {}, latency: [] };
  const fixed = new Uint8Array(o.size).fill(0x61);
  const seqs = new Map<number, number>();
  const loop = async (w: number) => {
    for (let k = 0; Date.now() < o.measureTo; k++) {
      const g = ((w + k * o.totalLoops) % o.groups) + 1;
      const seq = (seqs.get(g) ?? 0) + 1;
      seqs.set(g, seq);
      const payload = o.payload ? o.payload(g, seq) : fixed;
      res.appended++;
      const t = performance.now();
      try {
        const r = await client.group(g).append(payload);
        const now = Date.now();
        res.ackedTotal++;
        o.onAck?.(g, r.lsn, seq, payload);
        if (now >= o.measureFrom && now <= o.measureTo) {
          res.acked++;
          res.bytes += payload.length;
          hist.add(performance.now() - t);
        }
      } catch (e) {
        const code = e instanceof PalfError ? e.code : "OTHER";
        res.errors[code] = (res.errors[code] ?? 0) + 1;
        if (code === "CLOSED") return;
        await sleep(20);
      }
    }
  };
  await Promise.all(Array.from({ length: o.loops }, (_, i) => loop(o.firstLoop + i)));
  res.latency = hist.counts;
  return res;
}

/** Children of this process with the given command name (e.g. the nats-server LocalCluster started). */
export function childPids(comm: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && name === comm) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

/**
 * Self time of a V8 .cpuprofile by area (core, node runtime, storage, transport, NATS client, msgpackr,
 * Node internals, GC, idle) and its top functions, in % of the profile.
 */
export function summarizeProfile(
  file: string,
  top = 15,
): { ms: number; areas: Record<string, number>; top: string[] } {
  const p = JSON.parse(fs.readFileSync(file, "utf8")) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const dt = Math.max(0, p.timeDeltas[i] ?? 0);
    self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + dt);
    total += dt;
  }
  const areas: Record<string, number> = {};
  const fns = new Map<string, number>();
  for (const [id, t] of self) {
    const f = byId.get(id)!.callFrame;
    const area = areaOf(f.url, f.functionName);
    areas[area] = (areas[area] ?? 0) + t;
    const short = f.url.replace(/^.*\/(packages|apps|node_modules)\//, "$1/").replace(/^file:\/\//, "");
    const key = `${f.functionName || "(anonymous)"} ${short}:${f.lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + t);
  }
  const pct = (t: number) => Math.round((1000 * t) / total) / 10;
  return {
    ms: Math.round(total / 1000),
    areas: Object.fromEntries(
      Object.entries(areas)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => [k, pct(v)]),
    ),
    top: [...fns]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => `${pct(v)}% ${k}`),
  };
}

function areaOf(url: string, fn: string): string {
  if (fn === "(idle)") return "idle";
  if (fn === "(garbage collector)") return "gc";
  if (fn === "(program)") return "program (native, unattributed)";
  const m = /\/packages\/(\w+)\//.exec(url);
  if (m) return `packages/${m[1]}`;
  if (url.includes("@nats-io")) return "nats client";
  if (url.includes("msgpackr")) return "msgpackr";
  if (url.includes("pino") || url.includes("sonic-boom")) return "pino";
  if (url.includes("tsx") || url.includes("esbuild")) return "tsx";
  if (url.startsWith("node:") || url === "") return "node internals / native";
  if (url.includes("/apps/")) return "apps";
  return "other js";
}

/**
 * Environment for palfd processes to be profiled: Node 20 refuses --cpu-prof in NODE_OPTIONS, so a preload
 * starts and stops the V8 profiler on SIGUSR2 (see cpu-profile-preload.mjs) and writes into `dir`.
 */
export function profilingEnv(dir: string): Record<string, string> {
  const preload = new URL("./cpu-profile-preload.mjs", import.meta.url).href;
  return {
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --import ${preload}`.trim(),
    PALF_CPU_PROFILE_DIR: dir,
  };
}

/** Prints the summary of every profile in `dir` to stderr. */
export function printProfiles(dir: string, tag: string): void {
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"))) {
    const s = summarizeProfile(path.join(dir, f));
    console.error(
      `[${tag}] profile ${f} (${s.ms} ms sampled): self time % by area ${JSON.stringify(s.areas)}`,
    );
    for (const line of s.top) console.error(`    ${line}`);
  }
}

/** Profiles this process (the client side) until the returned function writes the profile. */
export async function startProfile(): Promise<(file: string) => Promise<void>> {
  const session = new Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) =>
      session.post(method, params, (err, res) => (err ? reject(err) : resolve(res))),
    );
  await post("Profiler.enable");
  await post("Profiler.setSamplingInterval", { interval: 200 });
  await post("Profiler.start");
  return async (file) => {
    const res = (await post("Profiler.stop")) as { profile: unknown };
    fs.writeFileSync(file, JSON.stringify(res.profile));
    session.disconnect();
  };
}

export async function waitForProfiles(dir: string, count: number): Promise<void> {
  const end = Date.now() + 10_000;
  while (fs.readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")).length < count && Date.now() < end)
    await new Promise((r) => setTimeout(r, 100));
}
