// The CPU a set of local processes (and this one) spent over a measured window, and optionally their V8 CPU
// profiles for that window (processes started with profilingEnv start and stop profiling on SIGUSR2).
import path from "node:path";
import { startProfile, waitForProfiles } from "./cpu-profiles.ts";
import { cpuSeconds } from "./proc-stats.ts";

export class CpuWindow {
  private cpu0 = new Map<string, number>();
  private self0: NodeJS.CpuUsage | undefined;
  private selfProfile: ((file: string) => Promise<void>) | undefined;

  /**
   * `pids`: name -> pid of the processes to measure; `profiled`: the names among them that run the
   * profiling preload; `profileDir`: where profiles go (none: CPU seconds only).
   */
  constructor(
    private readonly pids: ReadonlyMap<string, number>,
    private readonly profiled: readonly string[] = [],
    private readonly profileDir?: string,
  ) {}

  async start(): Promise<void> {
    this.self0 = process.cpuUsage();
    for (const [n, pid] of this.pids) this.cpu0.set(n, cpuSeconds(pid) ?? 0);
    if (this.profileDir) {
      this.selfProfile = await startProfile();
      for (const n of this.profiled) process.kill(this.pids.get(n)!, "SIGUSR2");
    }
  }

  /** CPU seconds per process since start (this process as "bench"); writes the profiles first. */
  async stop(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [n, pid] of this.pids) out[n] = (cpuSeconds(pid) ?? 0) - (this.cpu0.get(n) ?? 0);
    const self = process.cpuUsage(this.self0);
    out.bench = (self.user + self.system) / 1e6;
    if (this.profileDir) {
      for (const n of this.profiled) process.kill(this.pids.get(n)!, "SIGUSR2");
      await this.selfProfile?.(path.join(this.profileDir, `bench-${process.pid}.cpuprofile`));
      await waitForProfiles(this.profileDir, this.profiled.length + 1);
    }
    return out;
  }
}
