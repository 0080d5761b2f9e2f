// `pnpm start`: the transactional store at work on this machine. A 3-server NATS cluster (routes on loopback
// ports; every process takes every URL) + 3 palfd (fsync on) + 2 store servers; a bank workload moving money
// between accounts on different partitions, with progress; kill -9 of a palfd, of a nats-server and of a
// store server and their restarts; a transaction-CDC consumer keeping its own
// copy of the balances in step; a summary that says whether the invariant held everywhere (exit 1 if not),
// ending with one JSON line.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TxnChange } from "@palf/kv";
import { findNatsServer } from "@palf/transport";
import { Command, InvalidArgumentError } from "commander";
import { accountNames, initAccounts, quantile, runBank, snapshotRead } from "./bank-workload.ts";
import { LocalStore } from "./local-store.ts";

const positiveInt = (v: string) => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
};
const opts = new Command()
  .name("pnpm start")
  .description(
    "the palf transactional store: bank transfers across partitions, kill -9, recovery, transaction CDC",
  )
  .option("--seconds <s>", "how long transfers run", positiveInt, 30)
  .option("--accounts <n>", "bank accounts", positiveInt, 200)
  .option("--partitions <n>", "partitions (PALF groups)", positiveInt, 8)
  .option("--concurrency <n>", "transfers in flight", positiveInt, 32)
  .option("--nats-servers <n>", "nats-servers in the NATS cluster (1: a single server)", positiveInt, 3)
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
  .parse()
  .opts<{
    seconds: number;
    accounts: number;
    partitions: number;
    concurrency: number;
    natsServers: number;
  }>();

try {
  findNatsServer();
} catch {
  console.error("nats-server is not installed (apt-get install -y nats-server; .ci/setup does it)");
  process.exit(2);
}

const t0 = performance.now();
const say = (msg: string) =>
  console.log(`[${((performance.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${msg}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-store-demo-"));
const store = new LocalStore({
  dataDir: dir,
  partitions: opts.partitions,
  lockTimeoutMs: 1000,
  checkpointMs: 2000,
  natsServers: opts.natsServers,
});
process.once("SIGINT", () => process.exit(130));
process.on("exit", () => {
  for (const p of [...store.procs.values(), ...store.cluster.procs.values()]) p.kill("SIGKILL");
});

let exitCode = 0;
try {
  say(
    `starting ${opts.natsServers > 1 ? `a ${opts.natsServers}-server NATS cluster` : "nats-server"}, 3 palfd (n1 n2 n3) and store servers ${store.servers.join(", ")}; ${opts.partitions} partitions`,
  );
  await store.start();
  say(`NATS: ${store.cluster.natsUrls.join(" ")} (palfd, store servers and clients take every URL)`);
  const { kv, close } = await store.openKv({ maxAttempts: 50 });
  const cdcSide = await store.openKv({ remote: false });
  const accounts = accountNames(opts.accounts);
  const total = opts.accounts * 100;
  await initAccounts(kv, accounts, 100);
  say(`${opts.accounts} accounts hold 100 each (total ${total}), spread over ${opts.partitions} partitions`);

  // The CDC consumer: its own copy of the balances, which must sum to the total after every transaction.
  const copy = new Map<string, number>();
  let cdcTxns = 0;
  let cdcBroken = 0;
  const cdc = cdcSide.kv.changes();
  const following = (async () => {
    for await (const t of cdc as AsyncIterable<TxnChange>) {
      cdcTxns++;
      for (const w of t.writes) copy.set(w.key, Number(w.value));
      if (copy.size === accounts.length && [...copy.values()].reduce((a, b) => a + b, 0) !== total)
        cdcBroken++;
    }
  })();

  let stop = false;
  let committed = 0;
  const bank = runBank({
    kv,
    accounts,
    concurrency: opts.concurrency,
    done: () => stop,
    seed: 42,
    snapshotEvery: 20,
    onCommit: () => committed++,
  });
  const S = opts.seconds * 1000;
  const nats = store.cluster.natsCluster;
  const events: Array<[number, string, () => Promise<void>]> = [
    [S / 4, "kill -9 palfd n2", () => store.cluster.kill("n2")],
    [S / 2, "restart palfd n2", () => store.cluster.startNode("n2")],
    ...(nats === undefined
      ? []
      : ([
          [
            (9 * S) / 16,
            `stop nats-server ${nats.urls[0]} (connections move to the others)`,
            () => nats.kill(0),
          ],
          [(11 * S) / 16, `start nats-server ${nats.urls[0]} again`, () => nats.restart(0)],
        ] as Array<[number, string, () => Promise<void>]>)),
    [(5 * S) / 8, "kill -9 store server kv1", () => store.killServer("kv1")],
    [(3 * S) / 4, "restart store server kv1 (from its checkpoints)", () => store.startServer("kv1")],
  ];
  events.sort((a, b) => a[0] - b[0]);
  const start = performance.now();
  let last = 0;
  // Every event runs even when an earlier one (a restart on a loaded machine) took past the end.
  while (performance.now() - start < S || events.length > 0) {
    await sleep(1000);
    const at = performance.now() - start;
    while (events.length > 0 && events[0]![0] <= at) {
      const [, what, run] = events.shift()!;
      say(`>>> ${what}`);
      await run();
    }
    const copySum = [...copy.values()].reduce((a, b) => a + b, 0);
    say(
      `transfers ${committed} (+${committed - last}/s), conflicts retried ${kv.stats.conflicts}, CDC ${cdcTxns} txns, copy sum ${copy.size === accounts.length ? copySum : "(filling)"}`,
    );
    last = committed;
  }
  stop = true;
  const r = await bank;
  const final = await snapshotRead(kv, accounts.length);
  const finalSum = [...final.balances.values()].reduce((a, b) => a + b, 0);
  const badSnapshots = r.snapshots.filter(
    (s) => [...s.balances.values()].reduce((a, b) => a + b, 0) !== total,
  ).length;
  say("transfers stopped; letting the CDC consumer catch up");
  const deadline = performance.now() + 30_000;
  while (performance.now() < deadline && ![...final.balances].every(([k, v]) => copy.get(k) === v))
    await sleep(200);
  const copyMatches = [...final.balances].every(([k, v]) => copy.get(k) === v);
  await cdc.close();
  await following.catch(() => undefined);
  const ok = finalSum === total && badSnapshots === 0 && cdcBroken === 0 && copyMatches;
  console.log("");
  console.log(
    `  committed transfers        ${r.committed} (${(r.committed / opts.seconds).toFixed(1)}/s, measured on this machine)`,
  );
  console.log(
    `  latency p50 / p99          ${quantile(r.latenciesMs, 0.5).toFixed(1)} / ${quantile(r.latenciesMs, 0.99).toFixed(1)} ms`,
  );
  console.log(`  given up / unknown / down  ${r.failed} / ${r.indeterminate} / ${r.unavailable}`);
  console.log(`  snapshot reads summed      ${r.snapshots.length}, wrong totals: ${badSnapshots}`);
  console.log(`  final total                ${finalSum} (expected ${total})`);
  console.log(
    `  CDC transactions           ${cdcTxns}, copy off the total: ${cdcBroken}, copy = final state: ${copyMatches}`,
  );
  console.log(`  invariant                  ${ok ? "HELD everywhere" : "BROKEN"}`);
  console.log(
    JSON.stringify({
      ok,
      transfers: r.committed,
      perS: Number((r.committed / opts.seconds).toFixed(1)),
      p99Ms: Number(quantile(r.latenciesMs, 0.99).toFixed(1)),
      badSnapshots,
      finalSum,
      total,
      cdcTxns,
      cdcBroken,
      copyMatches,
    }),
  );
  if (!ok) exitCode = 1;
  await cdcSide.close();
  await close();
} catch (e) {
  console.error(e);
  exitCode = 1;
} finally {
  await store.stop().catch(() => undefined);
  fs.rmSync(dir, { recursive: true, force: true });
}
process.exit(exitCode);
