// Real crashes: a child process appends under load and reports what was acknowledged durable;
// the parent SIGKILLs it at random moments (seeded), reopens the WAL and checks that the state
// is exactly the effect of a prefix of the submitted records that includes every acknowledged
// one: nothing acknowledged is lost, nothing never submitted appears, bytes match.
// Reproduce a failure with CRASH_SEED=<seed printed in the message>.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { CRASH_OPTIONS } from "./crash-child.test-support.ts";
import { openShardWal } from "./shard-wal.ts";
import {
  diffWal,
  prng,
  type RecordSpec,
  removeDir,
  specToRecord,
  tempDir,
  WalModel,
} from "./wal-model.test-support.ts";

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), "crash-child.test-support.ts");
const SEED = Number(process.env.CRASH_SEED ?? 20261122);
const ROUNDS = 36;

interface RoundLog {
  submitted: Array<{ seq: number; spec: RecordSpec }>;
  durableSeq: number;
  ready: boolean;
}

/** Runs the child until the kill; resolves with what it reported. */
function runChild(
  dir: string,
  round: number,
  killAfterReadyMs: number | undefined,
  killAtMs: number,
): Promise<RoundLog> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, dir, String(SEED), String(round)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const log: RoundLog = { submitted: [], durableSeq: 0, ready: false };
    let rest = "";
    let stderr = "";
    let timer: NodeJS.Timeout | undefined;
    const kill = () => child.kill("SIGKILL");
    if (killAfterReadyMs === undefined) timer = setTimeout(kill, killAtMs);
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (chunk: string) => {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      for (const line of lines) {
        const parts = line.split(" ");
        if (parts[0] === "READY") {
          log.ready = true;
          if (killAfterReadyMs !== undefined) timer = setTimeout(kill, killAfterReadyMs);
        } else if (parts[0] === "S") {
          log.submitted.push({ seq: Number(parts[1]), spec: parts.slice(2).map(Number) as RecordSpec });
        } else if (parts[0] === "D") {
          log.durableSeq = Math.max(log.durableSeq, Number(parts[1]));
        }
      }
    });
    child.stderr.on("data", (d) => {
      stderr += String(d);
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal !== "SIGKILL") reject(new Error(`child exited by itself (code ${code}): ${stderr}`));
      else resolve(log);
    });
  });
}

describe("crash recovery (SIGKILL)", () => {
  it(`every acknowledged record survives, nothing unwritten appears (seed ${SEED})`, async () => {
    const r = prng(SEED);
    const dir = tempDir("palf-crash-");
    let model = new WalModel();
    let acknowledged = 0;
    let lost = 0;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        // Mostly kill while appending; sometimes while starting up or recovering.
        const early = r.chance(0.15);
        const log = await runChild(dir, round, early ? undefined : 5 + r.int(250), 50 + r.int(250));
        const acked = log.submitted.filter((s) => s.seq <= log.durableSeq);
        const maybe = log.submitted.filter((s) => s.seq > log.durableSeq);
        const wal = await openShardWal(dir, CRASH_OPTIONS);
        try {
          const candidate = model.clone();
          for (const s of acked) candidate.apply(specToRecord(s.spec));
          const ackedOnly = diffWal(wal, candidate);
          let diff = ackedOnly;
          let applied = 0;
          while (diff !== "" && applied < maybe.length) {
            candidate.apply(specToRecord(maybe[applied++]!.spec));
            diff = diffWal(wal, candidate);
          }
          if (diff !== "") {
            expect.fail(
              `seed ${SEED} round ${round}: recovered state is no prefix of the submitted records ` +
                `(${acked.length} acknowledged, ${maybe.length} unacknowledged).\n` +
                `vs acknowledged records only:\n${ackedOnly}`,
            );
          }
          model = candidate;
          acknowledged += acked.length;
          lost += maybe.length - applied;
        } finally {
          await wal.close();
        }
      }
    } finally {
      removeDir(dir);
    }
    // The run must have done real work to prove anything.
    expect(acknowledged).toBeGreaterThan(ROUNDS * 10);
    console.log(
      `crash test seed ${SEED}: ${acknowledged} acknowledged records kept, ${lost} unacknowledged lost`,
    );
  }, 120_000); // 36 child processes, each started under tsx: far beyond the 5 s default
});
