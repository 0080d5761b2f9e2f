import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PalfdMetrics } from "@palf/palfd/metrics";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const root = fileURLToPath(new URL("../..", import.meta.url));
const compose = parse(fs.readFileSync(path.join(root, "docker/compose.yaml"), "utf8"), { merge: true }) as {
  services: Record<
    string,
    {
      command?: string[];
      build?: { context: string; dockerfile: string };
      image?: string;
      volumes?: string[];
    }
  >;
};

describe("docker files (checked without a Docker engine)", () => {
  it("the compose file runs a 3-server NATS cluster, three palfd nodes with distinct ids and data dirs, init, Prometheus and Grafana", () => {
    expect(Object.keys(compose.services).sort()).toEqual([
      "grafana",
      "init",
      "n1",
      "n2",
      "n3",
      "nats1",
      "nats2",
      "nats3",
      "prometheus",
    ]);
    // Every nats-server routes to the two others under one cluster name, and has a health check.
    for (const n of ["nats1", "nats2", "nats3"]) {
      const svc = compose.services[n] as { command: string[]; healthcheck?: { test: string[] } };
      const cmd = svc.command;
      expect(cmd[cmd.indexOf("--cluster_name") + 1]).toBe("palf");
      const routes = cmd[cmd.indexOf("--routes") + 1]!.split(",");
      expect(routes.sort()).toEqual(
        ["nats1", "nats2", "nats3"].filter((o) => o !== n).map((o) => `nats://${o}:6222`),
      );
      expect(svc.healthcheck?.test.join(" ")).toContain("/healthz");
    }
    // init creates the GTS group and the cursor group on the three nodes.
    const init = compose.services.init!.command!.join(" ");
    expect(init).toContain("create-group 0 --members n1,n2,n3");
    expect(init).toContain("cursors init --members n1,n2,n3");
    const ids = ["n1", "n2", "n3"].map((n) => {
      const cmd = compose.services[n]!.command!;
      return {
        node: cmd[cmd.indexOf("--node") + 1],
        data: cmd[cmd.indexOf("--data") + 1],
        nats: cmd[cmd.indexOf("--nats") + 1],
      };
    });
    expect(new Set(ids.map((i) => i.node)).size).toBe(3);
    expect(new Set(ids.map((i) => i.data)).size).toBe(3);
    for (const i of ids) expect(i.nats).toBe("nats://nats1:4222,nats://nats2:4222,nats://nats3:4222");
  });

  it("every flag the compose file passes is one palfd accepts, and the build paths exist", () => {
    const help = spawnSync("node", ["--import", "tsx", "apps/palfd/src/main.ts", "--help"], {
      cwd: root,
      encoding: "utf8",
    });
    expect(help.status).toBe(0);
    for (const n of ["n1", "n2", "n3"]) {
      const svc = compose.services[n]!;
      for (const flag of svc.command!.filter((a) => a.startsWith("--"))) expect(help.stdout).toContain(flag);
      const dockerfile = path.join(root, "docker", svc.build!.context, svc.build!.dockerfile);
      expect(fs.existsSync(dockerfile)).toBe(true);
    }
    const dockerfile = fs.readFileSync(path.join(root, "docker/Dockerfile"), "utf8");
    const entry = /ENTRYPOINT \[(.*)\]/
      .exec(dockerfile)![1]!
      .split(",")
      .map((s) => JSON.parse(s.trim()) as string);
    expect(fs.existsSync(path.join(root, entry.at(-1)!))).toBe(true);
  });

  it("Prometheus scrapes /metrics on every palfd's --http port", () => {
    const prom = parse(fs.readFileSync(path.join(root, "docker/prometheus.yml"), "utf8")) as {
      scrape_configs: Array<{
        job_name: string;
        metrics_path?: string;
        static_configs: Array<{ targets: string[] }>;
      }>;
    };
    const job = prom.scrape_configs.find((j) => j.job_name === "palfd")!;
    expect(job.metrics_path ?? "/metrics").toBe("/metrics");
    const wanted = ["n1", "n2", "n3"].map((n) => {
      const cmd = compose.services[n]!.command!;
      const port = cmd[cmd.indexOf("--http") + 1]!.split(":").at(-1);
      return `${n}:${port}`;
    });
    expect(job.static_configs.flatMap((c) => c.targets).sort()).toEqual(wanted);
    // The compose file mounts the files this test read.
    const mounts = [...compose.services.prometheus!.volumes!, ...compose.services.grafana!.volumes!];
    for (const m of mounts) expect(fs.existsSync(path.join(root, "docker", m.split(":")[0]!))).toBe(true);
  });

  it("every Grafana dashboard query names only metrics palfd exports", () => {
    const dashboard = JSON.parse(
      fs.readFileSync(path.join(root, "docker/grafana/dashboards/palf.json"), "utf8"),
    ) as {
      uid: string;
      panels: Array<{ type: string; title: string; targets?: Array<{ expr: string }> }>;
    };
    const metrics = new PalfdMetrics("n1", () => undefined, {
      connected: true,
      disconnects: 0,
      reconnects: 0,
    });
    const exported = new Set<string>();
    for (const m of metrics.registry.getMetricsAsArray()) {
      const { name, type } = m as unknown as { name: string; type: string };
      exported.add(name);
      if (type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) exported.add(name + s);
      if (type === "summary") for (const s of ["_sum", "_count"]) exported.add(name + s);
    }
    const exprs = dashboard.panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })),
    );
    expect(exprs.length).toBeGreaterThan(20);
    for (const { panel, expr } of exprs) {
      const names = expr.match(/\b(?:palf|process|nodejs)_[a-z0-9_]+\b/g) ?? [];
      expect(names.length, `${panel}: ${expr} names no metric`).toBeGreaterThan(0);
      for (const name of names) expect(exported.has(name), `${panel}: ${name} is not exported`).toBe(true);
    }
    const provider = parse(
      fs.readFileSync(path.join(root, "docker/grafana/provisioning/dashboards/palf.yaml"), "utf8"),
    ) as { providers: Array<{ options: { path: string } }> };
    const dashboardsMount = compose.services.grafana!.volumes!.find((v) => v.includes("dashboards:"))!;
    expect(dashboardsMount.split(":")[1]).toBe(provider.providers[0]!.options.path);
    const datasource = parse(
      fs.readFileSync(path.join(root, "docker/grafana/provisioning/datasources/prometheus.yaml"), "utf8"),
    ) as { datasources: Array<{ uid: string; url: string }> };
    expect(datasource.datasources[0]!.url).toBe("http://prometheus:9090");
    const uids = JSON.stringify(dashboard).match(/"uid":\s*"([^"]+)"/g) ?? [];
    for (const u of uids) expect(["prometheus", dashboard.uid]).toContain(JSON.parse(`{${u}}`).uid);
  });
});
