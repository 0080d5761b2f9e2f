import { Prng } from "@palf/core";

/**
 * The commit-info delay (ReplicaOptions.commitInfoDelayMs) a simulated run of `seed` uses: 0 (commit info at
 * once) in a quarter of the seeds, 1-10 ms in a quarter, 11-99 ms in a quarter and 100 ms in the rest. Drawn
 * from a stream of its own, so pinning it (`--commit-info-delay-ms N`) changes nothing else in the run.
 */
export function drawCommitInfoDelayMs(seed: number): number {
  const rng = new Prng((seed ^ 0x2c1b3c6d) >>> 0);
  const band = rng.int(0, 4);
  if (band === 0) return 0;
  if (band === 1) return rng.int(1, 11);
  if (band === 2) return rng.int(11, 100);
  return 100;
}
