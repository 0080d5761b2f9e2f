import fs from "node:fs";
import http from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import type { ClusterSnapshot } from "./cluster-view.ts";

export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  /** Prometheus text exposition and its content type. */
  readonly metrics: () => Promise<string>;
  readonly metricsContentType: string;
  /** Liveness: the process runs and NATS is connected. */
  readonly health: () => { ok: boolean; nats: "connected" | "disconnected" };
  /** Readiness: the WAL is recovered and the groups are loaded. */
  readonly ready: () => { ok: boolean; reason?: string };
  readonly cluster: () => Promise<ClusterSnapshot>;
}

const require = createRequire(import.meta.url);
const page = (name: string) => fileURLToPath(new URL(`./status-page/${name}`, import.meta.url));

/** Static files of the status page: its HTML and script, and uPlot (the charts) from node_modules. */
const assets: Readonly<Record<string, { file: string; type: string }>> = {
  "/": { file: page("index.html"), type: "text/html; charset=utf-8" },
  "/status-page.js": { file: page("status-page.js"), type: "text/javascript; charset=utf-8" },
  "/status-page.css": { file: page("status-page.css"), type: "text/css; charset=utf-8" },
  "/uPlot.min.js": { file: require.resolve("uplot/dist/uPlot.iife.min.js"), type: "text/javascript" },
  "/uPlot.min.css": { file: require.resolve("uplot/dist/uPlot.min.css"), type: "text/css" },
};

/**
 * palfd's HTTP endpoints (`--http host:port`): /metrics for Prometheus, /healthz and /readyz as Kubernetes
 * probes expect (200 or 503 with a JSON reason), the status page at / and its data at /api/cluster.
 */
export async function startHttpServer(
  o: HttpServerOptions,
): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const json = (code: number, body: unknown) => {
      res.writeHead(code, { "content-type": "application/json", "cache-control": "no-store" });
      res.end(JSON.stringify(body));
    };
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    const fail = (err: unknown) => json(500, { error: (err as Error).message });
    switch (url.pathname) {
      case "/metrics":
        o.metrics().then((text) => {
          res.writeHead(200, { "content-type": o.metricsContentType });
          res.end(text);
        }, fail);
        return;
      case "/healthz": {
        const h = o.health();
        json(h.ok ? 200 : 503, { status: h.ok ? "ok" : "unhealthy", nats: h.nats });
        return;
      }
      case "/readyz": {
        const r = o.ready();
        json(r.ok ? 200 : 503, r.ok ? { status: "ready" } : { status: "not ready", reason: r.reason });
        return;
      }
      case "/api/cluster":
        o.cluster().then((snap) => json(200, snap), fail);
        return;
    }
    const asset = assets[url.pathname];
    if (!asset) {
      json(404, { error: `no ${url.pathname}: try /, /metrics, /healthz, /readyz, /api/cluster` });
      return;
    }
    fs.readFile(asset.file, (err, body) => {
      if (err) return fail(err);
      res.writeHead(200, { "content-type": asset.type, "cache-control": "no-cache" });
      res.end(body);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const host = a.family === "IPv6" ? `[${a.address}]` : a.address;
  return {
    url: `http://${host}:${a.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
