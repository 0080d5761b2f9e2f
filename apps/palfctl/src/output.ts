import type { ReadEntry } from "@palf/client";

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** One JSON line for a log entry: the payload as `text` when it is UTF-8, else as `base64`. */
export function entryLine(group: number, e: ReadEntry): string {
  let payload: { text: string } | { base64: string };
  try {
    payload = { text: utf8.decode(e.payload) };
  } catch {
    payload = { base64: Buffer.from(e.payload).toString("base64") };
  }
  return JSON.stringify({ group, lsn: e.lsn, csn: e.csn, ...payload });
}

/** One JSON line for any result (errors through their toJSON). */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value);
}
