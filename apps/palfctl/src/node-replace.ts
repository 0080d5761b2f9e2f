import { drainNode, type NodeMoveOptions, type NodeMoveReport, replaceNode } from "@palf/client";
import cliProgress from "cli-progress";
import type { Command } from "commander";
import type { CliIo, WithClient } from "./cli.ts";
import { jsonLine } from "./output.ts";
import { parseNodeId, parseNodeList, parsePositive } from "./parse.ts";

interface MoveFlags {
  readonly concurrency: number;
  readonly groupTimeout: number;
  readonly to?: string[];
}

/**
 * `palfctl node replace <dead> <new>` and `palfctl node drain <node>`: every group with a replica on the
 * node, batched with bounded concurrency, a progress bar on stderr (when it is a terminal), and a final
 * JSON line `{"groups","replaced","seconds","failed"}`. Both are safe to run again: they finish what is left.
 */
export function registerNodeCommands(program: Command, withClient: WithClient, io: CliIo): void {
  const node = program.command("node").description("move every replica off a node (dead or alive)");
  const flags = (c: Command) =>
    c
      .option("--concurrency <n>", "groups moved at once", parsePositive, 128)
      .option(
        "--group-timeout <ms>",
        "time one group's move may take (catch-up included)",
        parsePositive,
        60_000,
      );

  flags(
    node
      .command("replace")
      .description("every group with a replica on <dead> gets one on <new> and loses <dead>")
      .argument("<dead>", "the node to replace", parseNodeId)
      .argument("<new>", "the node that takes its replicas", parseNodeId),
  ).action(
    withClient(async (client, _g, dead: string, next: string, o: MoveFlags) => {
      const report = await withProgress(`replace ${dead} -> ${next}`, (p) =>
        replaceNode(client.membership(), dead, next, options(o, p, io)),
      );
      io.out(jsonLine(report));
      return report.failed.length === 0 ? 0 : 1;
    }),
  );

  flags(
    node
      .command("drain")
      .description("move every replica and leadership off a live <node> to the other nodes")
      .argument("<node>", "the node to empty", parseNodeId)
      .option("--to <ids>", "nodes that take its replicas (default: the others in --nodes)", parseNodeList),
  ).action(
    withClient(async (client, _g, from: string, o: MoveFlags) => {
      const m = client.membership();
      const targets = (o.to ?? m.seeds).filter((n) => n !== from);
      const report = await withProgress(`drain ${from}`, (p) =>
        drainNode(m, from, targets, options(o, p, io)),
      );
      io.out(jsonLine(report));
      return report.failed.length === 0 ? 0 : 1;
    }),
  );
}

function options(
  o: MoveFlags,
  onProgress: (done: number, total: number) => void,
  io: CliIo,
): NodeMoveOptions {
  return {
    concurrency: o.concurrency,
    perGroupTimeoutMs: o.groupTimeout,
    onProgress,
    ...(io.signal === undefined ? {} : { signal: io.signal }),
  };
}

/** Runs `body` with a progress bar on stderr; cli-progress draws nothing when stderr is not a terminal. */
async function withProgress(
  title: string,
  body: (onProgress: (done: number, total: number) => void) => Promise<NodeMoveReport>,
): Promise<NodeMoveReport> {
  const bar = new cliProgress.SingleBar(
    {
      format: `${title} [{bar}] {value}/{total} groups | {duration}s`,
      stream: process.stderr,
      hideCursor: true,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  try {
    return await body((done, total) => {
      if (!started) {
        started = true;
        bar.start(total, 0);
      }
      bar.update(done);
    });
  } finally {
    if (started) bar.stop();
  }
}
