/**
 * Peer codec throughput: encode + decode of loop-turn batches of push messages, one 256-byte group entry
 * each (one busy group per message, as a shard sends them to one peer). Prints one JSON line.
 *   pnpm exec tsx packages/transport/src/peer-codec.bench.ts [messagesPerBatch] [seconds]
 */
import { type Message, messageProblem } from "@palf/core";
import { Packr } from "msgpackr";
import { pushOf } from "./messages.test-support.ts";
import { decodeFrame, encodeBatches } from "./peer-codec.ts";

const perBatch = Number(process.argv[2] ?? 1000);
const seconds = Number(process.argv[3] ?? 3);
const entryBytes = 256;

const batch: Message[] = Array.from({ length: perBatch }, (_, g) => pushOf(g, 1, entryBytes));

function turn(bodies: "copy" | "view"): { messages: number; frameBytes: number } {
  let messages = 0;
  let frameBytes = 0;
  for (const frame of encodeBatches(batch)) {
    frameBytes += frame.length;
    messages += decodeFrame(frame, { bodies }).messages.length;
  }
  if (messages !== perBatch) throw new Error(`decoded ${messages} of ${perBatch}`);
  return { messages, frameBytes };
}

/** Baseline: the whole batch as plain msgpackr maps with one Buffer per body, validated the same way. */
const naivePackr = new Packr({ useRecords: false });
function naiveTurn(): { messages: number; frameBytes: number } {
  const frame = naivePackr.pack(batch);
  const decoded = naivePackr.unpack(frame) as unknown[];
  const messages = decoded.filter((m) => messageProblem(m) === undefined).length;
  if (messages !== perBatch) throw new Error(`decoded ${messages} of ${perBatch}`);
  return { messages, frameBytes: frame.length };
}

function measure(run: () => { messages: number; frameBytes: number }) {
  for (let i = 0; i < 50; i++) run(); // warm up the JIT
  let messages = 0;
  let frameBytes = 0;
  let batches = 0;
  const start = performance.now();
  const until = start + seconds * 1000;
  while (performance.now() < until) {
    const r = run();
    messages += r.messages;
    frameBytes += r.frameBytes;
    batches++;
  }
  const s = (performance.now() - start) / 1000;
  return {
    messagesPerSec: Math.round(messages / s),
    entryMBPerSec: Number(((messages * entryBytes) / s / 1e6).toFixed(1)),
    frameMBPerSec: Number((frameBytes / s / 1e6).toFixed(1)),
    batches,
  };
}

const copy = measure(() => turn("copy"));
const view = measure(() => turn("view"));
const naive = measure(naiveTurn);
console.log(
  JSON.stringify({
    bench: "peer-codec encode+decode",
    node: process.version,
    messagesPerBatch: perBatch,
    entryBytes,
    bytesPerMessage: Math.round(encodeBatches(batch).reduce((n, f) => n + f.length, 0) / perBatch),
    ...copy,
    frames: encodeBatches(batch).length,
    viewBodies: { messagesPerSec: view.messagesPerSec, entryMBPerSec: view.entryMBPerSec },
    naiveMsgpackrMaps: { messagesPerSec: naive.messagesPerSec, entryMBPerSec: naive.entryMBPerSec },
  }),
);
