import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ConnectOptions, connect } from "@palf/client";
import { FakeCluster } from "@palf/client/testing";
import type { CliIo } from "./cli.ts";

/** palfctl in process against a fake cluster, with its own HOME (so contexts never touch the real one). */
export function palfctlHarness(o: { env?: Record<string, string>; cluster?: string } = {}) {
  const home = mkdtempSync(join(tmpdir(), "palfctl-home-"));
  const env = o.env ?? {};
  const cluster = new FakeCluster(o.cluster === undefined ? {} : { cluster: o.cluster });
  const out: string[] = [];
  const err: string[] = [];
  /** What palfctl asked to connect with, last call last. */
  const connects: ConnectOptions[] = [];
  const io = (signal?: AbortSignal): CliIo => ({
    out: (l) => out.push(l),
    err: (t) => err.push(t),
    env: { HOME: home, ...env },
    connect: (o) => {
      connects.push(o);
      return connect({ ...o, transport: cluster.clientTransport(`client-${connects.length}`) });
    },
    ...(signal === undefined ? {} : { signal }),
  });
  const lines = () => out.splice(0).map((l) => JSON.parse(l) as Record<string, unknown>);
  return { home, cluster, io, out, err, lines, connects };
}
