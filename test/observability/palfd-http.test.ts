import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, type PalfClient } from "@palf/client";
import { LocalCluster } from "@palf/palfd/local-cluster";
import { type Browser, chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const nodes = ["n1", "n2", "n3"];
const groups = [1, 2, 3, 4, 5, 6];
let dir: string;
let cluster: LocalCluster;
let client: PalfClient;
let appending = true;
let appended = 0;
let appender: Promise<void>;

/** Screenshots go to PALF_ARTIFACTS (CI) or a temp dir, never into the repo. */
const artifacts = process.env.PALF_ARTIFACTS ?? path.join(os.tmpdir(), "palf-artifacts");

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "palf-http-"));
  cluster = new LocalCluster({ nodes, dataDir: dir, leaseMs: 1000, http: true });
  await cluster.start();
  client = await connect({ cluster: "palf", nodes, servers: cluster.natsUrl });
  await client.createGroup(0, nodes);
  for (const g of groups) await client.createGroup(g, nodes);
  // Appends run through every test: the numbers on /metrics and the status page must keep moving.
  appender = (async () => {
    const payload = new Uint8Array(200);
    while (appending) {
      await Promise.all(
        groups.map((g) =>
          client
            .group(g)
            .append(payload)
            .then(
              () => {
                appended++;
              },
              () => undefined,
            ),
        ),
      );
    }
  })();
}, 90_000);

afterAll(async () => {
  appending = false;
  await appender;
  await client?.close();
  await cluster?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

const get = async (node: string, p: string) => {
  const res = await fetch(`${cluster.httpUrls.get(node)}${p}`);
  return { status: res.status, text: await res.text() };
};

/** Sum of a metric's samples (all label sets) in a Prometheus text exposition. */
function metric(text: string, name: string): number {
  let sum = 0;
  let seen = false;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    seen = true;
  }
  if (!seen) throw new Error(`${name} is not in the exposition`);
  return sum;
}

async function until(what: string, cond: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

describe("palfd --http on a real 3-node cluster", () => {
  it("every node serves its probes: /healthz (NATS connected) and /readyz (WAL recovered) answer 200", async () => {
    for (const n of nodes) {
      const health = await get(n, "/healthz");
      expect(health.status).toBe(200);
      expect(JSON.parse(health.text)).toEqual({ status: "ok", nats: "connected" });
      expect((await get(n, "/readyz")).status).toBe(200);
    }
    expect((await get("n1", "/nope")).status).toBe(404);
  });

  it("/metrics counts appends, commit and fsync latencies and loop turns, and they grow while appends run", async () => {
    const scrape = async () => {
      const all = await Promise.all(nodes.map((n) => get(n, "/metrics")));
      for (const m of all) expect(m.status).toBe(200);
      const sum = (name: string) => all.reduce((s, m) => s + metric(m.text, name), 0);
      return {
        committed: sum("palf_appends_committed_total"),
        bytes: sum("palf_append_bytes_total"),
        commitCount: sum("palf_commit_latency_seconds_count"),
        fsyncCount: sum("palf_fsync_latency_seconds_count"),
        turns: sum("palf_loop_turn_seconds_count"),
        walWritten: sum("palf_wal_written_bytes_total"),
        natsSent: sum("palf_nats_bytes_sent_total"),
        led: sum("palf_groups_led"),
        hosted: sum("palf_groups"),
        gtsLeaders: sum("palf_gts_leader"),
        text: all[0]!.text,
      };
    };
    await until("appends to commit", async () => appended > 0);
    await until("every node to report", async () => (await scrape()).commitCount > 0);
    const before = await scrape();
    const appendedBefore = appended;
    await until("more appends", async () => appended >= appendedBefore + 50);
    const after = await scrape();
    expect(after.committed).toBeGreaterThan(before.committed);
    expect(after.bytes).toBeGreaterThan(before.bytes);
    expect(after.commitCount).toBeGreaterThan(before.commitCount);
    expect(after.fsyncCount).toBeGreaterThan(before.fsyncCount);
    expect(after.turns).toBeGreaterThan(before.turns);
    expect(after.walWritten).toBeGreaterThan(before.walWritten);
    expect(after.natsSent).toBeGreaterThan(before.natsSent);
    // 7 groups (the GTS group and 6 data groups) on 3 nodes each, each led once.
    expect(after.hosted).toBe(3 * (groups.length + 1));
    await until("every group to have a leader", async () => (await scrape()).led === groups.length + 1);
    await until("one GTS leader", async () => (await scrape()).gtsLeaders === 1);
    // Default Node process metrics come along, and labels stay bounded (node and shard, never a group).
    expect(after.text).toContain("process_cpu_seconds_total");
    expect(after.text).toContain("nodejs_eventloop_lag_seconds");
    for (const line of after.text.split("\n"))
      if (line.startsWith("palf_")) expect(line).not.toMatch(/group=/);
  });

  it("the status page in headless Chromium shows live numbers from all 3 nodes, and they move", async () => {
    const browser: Browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
      ],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`${cluster.httpUrls.get("n2")}/`);
      const row = (n: string) => page.locator(`#nodes tr[data-node="${n}"]`);
      for (const n of nodes) await row(n).waitFor({ timeout: 30_000 });
      const read = async () => {
        const out: Record<string, { state: string; groups: number; leaders: number; commits: number }> = {};
        for (const n of nodes) {
          const r = row(n);
          const num = async (cls: string) =>
            Number((await r.locator(`.${cls}`).innerText()).replace(/,/g, ""));
          out[n] = {
            state: await r.locator(".state").innerText(),
            groups: await num("groups"),
            leaders: await num("leaders"),
            commits: await num("commits-rate"),
          };
        }
        return out;
      };
      // Commits per second show up on the nodes that lead data groups; all 3 nodes are up with 7 groups each.
      let first = await read();
      await until("commit rates on the page", async () => {
        first = await read();
        return nodes.some((n) => first[n]!.commits > 0);
      });
      for (const n of nodes) {
        expect(first[n]!.state).toBe("up");
        expect(first[n]!.groups).toBe(groups.length + 1);
      }
      expect(nodes.reduce((s, n) => s + first[n]!.leaders, 0)).toBe(groups.length + 1);
      // The page refreshes itself: the numbers change without a reload while appends run.
      const refreshedAt = await page.locator("body").getAttribute("data-refreshed");
      await until("the page to refresh", async () => {
        return (await page.locator("body").getAttribute("data-refreshed")) !== refreshedAt;
      });
      const kpi = async () => Number((await page.locator("#k-commits").innerText()).replace(/,/g, ""));
      const seen = new Set<number>([await kpi()]);
      await until("the cluster commit rate to change", async () => {
        seen.add(await kpi());
        return seen.size > 1;
      });
      expect(await page.locator("#k-nodes").innerText()).toBe("3 / 3");
      expect(await page.locator("#k-gts").innerText()).toMatch(/^n[123]$/);
      expect(await page.locator("#chart-commits canvas").count()).toBeGreaterThan(0);
      expect(errors).toEqual([]);
      fs.mkdirSync(artifacts, { recursive: true });
      const shot = path.join(artifacts, "status-page.png");
      await page.screenshot({ path: shot, fullPage: true });
      expect(fs.statSync(shot).size).toBeGreaterThan(10_000);
      console.log(`status page screenshot: ${shot}`);
    } finally {
      await browser.close();
    }
  });
});
