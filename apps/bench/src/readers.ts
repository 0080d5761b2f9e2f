// Readers that run beside the append load (`--readers tail|cdc`): `tail` follows every bench group with
// the client's tail, `cdc` reads them all as one change stream in CSN order. Both start at the groups'
// committed ends, count what they deliver per second and record each bench entry's lag: from the send
// time stamped in its payload to its delivery here.
import { openCdc } from "@palf/cdc";
import type { PalfClient } from "@palf/client";
import { stampOf } from "./append-load.ts";
import type { RunRecorder } from "./run-recorder.ts";

export type ReaderKind = "tail" | "cdc";

export interface RunningReaders {
  /** Stops reading; resolves once every reader has ended. */
  stop(): Promise<void>;
  /** Read errors (a reader that failed for good stops and is counted here). */
  readonly failures: string[];
}

/** Each group's committed end (0 when unknown): where a reader starts so that old entries are skipped. */
async function committedEnds(client: PalfClient, groups: readonly number[]): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  await Promise.all(
    groups.map(async (g) => {
      try {
        out.set(g, (await client.group(g).read(0, { maxEntries: 1 })).committedEnd);
      } catch {
        out.set(g, 0);
      }
    }),
  );
  return out;
}

/** Starts the readers; entries delivered before `recorder.epochMs` (the warm-up) are not recorded. */
export async function startReaders(
  kind: ReaderKind,
  client: PalfClient,
  groups: readonly number[],
  recorder: RunRecorder,
): Promise<RunningReaders> {
  const ends = await committedEnds(client, groups);
  const abort = new AbortController();
  const failures: string[] = [];
  const deliver = (payload: Uint8Array) => {
    const now = Date.now();
    if (now < recorder.epochMs) return;
    const sent = stampOf(payload);
    recorder.delivered(now, sent === undefined ? undefined : Math.max(0, now - sent));
  };
  let done: Promise<unknown>;
  if (kind === "tail") {
    done = Promise.all(
      groups.map(async (g) => {
        try {
          for await (const e of client.group(g).tail(ends.get(g) ?? 0, { pollMs: 20, signal: abort.signal }))
            deliver(e.payload);
        } catch (e) {
          if (!abort.signal.aborted) failures.push(`tail of group ${g}: ${(e as Error).message}`);
        }
      }),
    );
  } else {
    const reader = await openCdc(client, {
      groups,
      from: { groups: Object.fromEntries([...ends].map(([g, lsn]) => [String(g), lsn])), csn: 0 },
    });
    abort.signal.addEventListener("abort", () => void reader.close(), { once: true });
    done = (async () => {
      try {
        for await (const e of reader) deliver(e.payload);
      } catch (e) {
        if (!abort.signal.aborted) failures.push(`cdc: ${(e as Error).message}`);
      }
    })();
  }
  return {
    failures,
    async stop() {
      abort.abort();
      await done;
    },
  };
}
