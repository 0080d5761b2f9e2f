import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { LocalCluster } from "@palf/palfd/local-cluster";
import { type NatsServerProcess, startNatsServer } from "@palf/transport";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const mainTs = fileURLToPath(new URL("./main.ts", import.meta.url));
const root = fileURLToPath(new URL("../../..", import.meta.url));

/** Runs `pnpm bench append ...` as its own process; resolves with its exit code and output. */
function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", mainTs, "append", ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PALF_NATS_USER: "", PALF_NATS_PASS: "", PALF_NATS_TOKEN: "" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.once("close", (code) => resolve({ code, stdout, stderr }));
  });
}

const lastJson = (stdout: string) =>
  JSON.parse(stdout.trim().split("\n").at(-1) ?? "null") as Record<string, unknown>;

// A cluster someone already runs: its own nats-server, and 3 palfd started apart from the bench. The server
// knows the user "bench" with a password; palfd (which LocalCluster starts without credentials) connects as
// the no_auth_user, and a client that presents a wrong password is refused.
describe("palf bench append against an existing cluster", () => {
  let dir: string;
  let nats: NatsServerProcess;
  let cluster: LocalCluster;
  let passFile: string;

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-append-bench-"));
    passFile = path.join(dir, "nats-password");
    fs.writeFileSync(passFile, "s3cret\n", { mode: 0o600 });
    const conf = path.join(dir, "nats.conf");
    fs.writeFileSync(
      conf,
      'authorization { users = [ { user: palfd, password: "palfd-pw" }, { user: bench, password: "s3cret" } ] }\nno_auth_user: palfd\n',
    );
    nats = await startNatsServer({ args: ["-c", conf] });
    cluster = new LocalCluster({
      nodes: ["n1", "n2", "n3"],
      dataDir: path.join(dir, "data"),
      natsUrl: nats.url,
    });
    await cluster.start();
  }, 120_000);

  afterAll(async () => {
    await cluster?.stop();
    await nats?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  const target = () => [
    "--nats",
    nats.url,
    "--nodes",
    "n1,n2,n3",
    "--user",
    "bench",
    "--pass-file",
    passFile,
  ];

  it("runs 3 s open loop with tail readers, creates its groups, ends with the JSON line and writes the report", async () => {
    const out = path.join(dir, "report");
    const r = await bench([
      ...target(),
      "--groups",
      "4",
      "--seconds",
      "3",
      "--warmup",
      "1",
      "--rate",
      "100",
      "--inflight",
      "32",
      "--size",
      "64,256",
      "--readers",
      "tail",
      "--out",
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const j = lastJson(r.stdout);
    expect(j).toMatchObject({
      bench: "append",
      target: "existing",
      mode: "open-loop",
      rate: 100,
      errors: 0,
      groups: 4,
    });
    expect(j.acked as number).toBeGreaterThan(0);
    expect(j.acked).toBe(j.sent);
    expect(j.p99Ms as number).toBeGreaterThan(0);
    expect((j.readers as { deliveredPerS: number }).deliveredPerS).toBeGreaterThan(0);
    // Each node's loop work over the measured part, and what replication cost per committed append.
    const loop = j.loop as Record<string, Record<string, number>>;
    for (const n of ["n1", "n2", "n3"]) expect(loop[n]!.turnsPerS, n).toBeGreaterThan(0);
    expect(loop.cluster!.peerMessagesPerCommittedAppend).toBeGreaterThan(0);
    expect(fs.readdirSync(out).sort()).toEqual([
      "latency.hlog",
      "per-second.csv",
      "report.html",
      "summary.json",
    ]);
  }, 180_000);

  it("runs again on the same groups (creation is idempotent) and measures exactly --count appends", async () => {
    const r = await bench([
      ...target(),
      "--groups",
      "4",
      "--count",
      "40",
      "--warmup",
      "0",
      "--inflight",
      "8",
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({
      mode: "closed-loop",
      acked: 40,
      sent: 40,
      errors: 0,
      count: 40,
    });
  }, 180_000);

  it("sends the password from --pass-file: a wrong one is refused", async () => {
    const wrong = path.join(dir, "wrong-password");
    fs.writeFileSync(wrong, "not-it\n");
    const r = await bench([
      ...["--nats", nats.url, "--nodes", "n1,n2,n3", "--user", "bench", "--pass-file", wrong],
      ...["--groups", "1", "--count", "1"],
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/authoriz/i);
  }, 180_000);
});
