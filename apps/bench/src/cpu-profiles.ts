// CPU profiles of a benchmark run: the palfd processes' (through a preload started on SIGUSR2) and this
// process's own, summarized by area of the code.
import fs from "node:fs";
import { Session } from "node:inspector";
import path from "node:path";

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
): { ms: number; busyMs: number; areas: Record<string, number>; top: string[] } {
  const p = JSON.parse(fs.readFileSync(file, "utf8")) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  /** Samples under node:inspector are the profiler's own work (serializing the profile at its stop). */
  const profilerOwn = (id: number): boolean => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at))
      if (byId.get(at)?.callFrame.url === "node:inspector") return true;
    return false;
  };
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
    const area = profilerOwn(id) ? "profiler" : areaOf(f.url, f.functionName);
    areas[area] = (areas[area] ?? 0) + t;
    const short = f.url.replace(/^.*\/(packages|apps|node_modules)\//, "$1/").replace(/^file:\/\//, "");
    const key = `${f.functionName || "(anonymous)"} ${short}:${f.lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + t);
  }
  const pct = (t: number) => Math.round((1000 * t) / total) / 10;
  return {
    ms: Math.round(total / 1000),
    busyMs: Math.round((total - (areas.idle ?? 0) - (areas.profiler ?? 0)) / 1000),
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

/**
 * Prints the summary of every profile in `dir` to stderr. With `work` (e.g. the appends acked in the profiled
 * window), also each process's CPU ms per 1000 of them: busy time (not idle, not the profiler's own), a
 * count that depends far less on what else runs on the machine than a rate does. Returns those by profile.
 */
export function printProfiles(
  dir: string,
  tag: string,
  work?: { count: number; what: string },
): Record<string, number> {
  const per1000: Record<string, number> = {};
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"))) {
    const s = summarizeProfile(path.join(dir, f));
    const cost = work && work.count > 0 ? Math.round((s.busyMs / work.count) * 10_000) / 10 : undefined;
    if (cost !== undefined) per1000[f.replace(/-\d+\.cpuprofile$/, "")] = cost;
    console.error(
      `[${tag}] profile ${f} (${s.ms} ms sampled, ${s.busyMs} ms busy${cost === undefined ? "" : `, ${cost} ms per 1000 ${work!.what}`}): self time % by area ${JSON.stringify(s.areas)}`,
    );
    for (const line of s.top) console.error(`    ${line}`);
  }
  return per1000;
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
