// Preloaded into palfd (and store servers) by `pnpm bench append|idle|kv --profile <dir>` (NODE_OPTIONS="--import <this file>", since
// Node 20 refuses --cpu-prof in NODE_OPTIONS): the first SIGUSR2 starts a V8 CPU profile, the second
// stops it and writes <dir>/<node>-<pid>.cpuprofile, so the profile covers just the measuring window.
import fs from "node:fs";
import { Session } from "node:inspector";
import path from "node:path";

const dir = process.env.PALF_CPU_PROFILE_DIR;
if (dir) {
  // palfd names itself with --node, a store server (palfkv serve) with --id.
  const i = process.argv.findIndex((a) => a === "--node" || a === "--id");
  const name = i >= 0 ? process.argv[i + 1] : "proc";
  const session = new Session();
  session.connect();
  let running = false;
  process.on("SIGUSR2", () => {
    if (!running) {
      running = true;
      session.post("Profiler.enable", () =>
        session.post("Profiler.setSamplingInterval", { interval: 200 }, () => session.post("Profiler.start")),
      );
      return;
    }
    running = false;
    session.post("Profiler.stop", (err, res) => {
      if (err) return;
      const file = path.join(dir, `${name}-${process.pid}.cpuprofile`);
      fs.writeFileSync(`${file}.tmp`, JSON.stringify(res.profile));
      fs.renameSync(`${file}.tmp`, file);
    });
  });
}
