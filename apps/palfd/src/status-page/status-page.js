// The status page's script: fetches /api/cluster every few seconds and draws the nodes, rates and charts.
// Plain browser JavaScript (served as is by palfd); uPlot draws the charts.
(() => {
  const REFRESH_MS = 2000;
  /** Rates are taken over this window of samples. */
  const RATE_WINDOW_MS = 10_000;
  const COLORS = ["#58a6ff", "#3fb950", "#d29922", "#f778ba", "#a371f7", "#79c0ff", "#ffa657"];
  const $ = (id) => document.getElementById(id);
  const charts = {};

  const fmt = (n, digits = 0) =>
    n === null || n === undefined || Number.isNaN(n)
      ? "–"
      : n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const bytes = (n) => {
    if (n === null || n === undefined) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    let v = n;
    while (v >= 1024 && i < units.length - 1) {
      v /= 1024;
      i++;
    }
    return `${v.toFixed(i === 0 ? 0 : 1)} ${units[i]}`;
  };
  const ms = (n) =>
    n === null || n === undefined ? "–" : n < 1000 ? `${fmt(n)} ms` : `${fmt(n / 1000, 1)} s`;

  /** Per-second rate of a counter over the newest RATE_WINDOW_MS of a node's history. */
  function rate(history, field) {
    if (history.length < 2) return null;
    const last = history[history.length - 1];
    let first = history[0];
    for (const p of history) {
      if (last.t - p.t <= RATE_WINDOW_MS) {
        first = p;
        break;
      }
    }
    if (first === last) first = history[history.length - 2];
    const dt = (last.t - first.t) / 1000;
    return dt > 0 ? Math.max(0, (last[field] - first[field]) / dt) : null;
  }

  function cell(text, cls) {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  }

  function renderNodes(snap) {
    const body = $("nodes").querySelector("tbody");
    body.replaceChildren();
    for (const n of snap.nodes) {
      const s = n.summary;
      const tr = document.createElement("tr");
      tr.dataset.node = n.node;
      if (!n.up) tr.className = "down";
      const name = cell(n.node + (n.self ? " (this)" : ""));
      if (s?.gtsLeader) {
        const b = document.createElement("span");
        b.className = "badge gts";
        b.textContent = "GTS";
        name.append(b);
      }
      const state = cell("");
      const badge = document.createElement("span");
      badge.className = `badge state ${n.up ? "ok" : "bad"}`;
      badge.textContent = n.up ? "up" : "down";
      if (!n.up && n.error) badge.title = n.error;
      state.append(badge);
      const disk =
        s && s.diskFreeBytes !== null
          ? `${bytes(s.diskFreeBytes)} (${fmt((100 * s.diskFreeBytes) / s.diskTotalBytes)}%)`
          : "–";
      tr.append(
        name,
        state,
        cell(fmt(s?.groups), "num groups"),
        cell(fmt(s?.leaders), "num leaders"),
        cell(fmt(rate(n.history, "appends"), 1), "num appends-rate"),
        cell(fmt(rate(n.history, "commits"), 1), "num commits-rate"),
        cell(fmt(s?.inflightAppends), "num inflight"),
        cell(s ? `${bytes(s.walBytes)} · ${s.walSegments} seg` : "–", "num wal"),
        cell(disk, "num disk"),
        cell(ms(s?.watermarkLagMs), "num wm-lag"),
        cell(fmt(s?.elections), "num elections"),
      );
      body.append(tr);
    }
  }

  function renderKpis(snap) {
    const up = snap.nodes.filter((n) => n.up);
    let groupsLed = 0;
    let appends = 0;
    let commits = 0;
    let moves = 0;
    let lag = null;
    for (const n of up) {
      groupsLed += n.summary?.leaders ?? 0;
      appends += rate(n.history, "appends") ?? 0;
      commits += rate(n.history, "commits") ?? 0;
      const h = n.history;
      if (h.length > 1) moves += h[h.length - 1].leaderships - h[0].leaderships;
      const l = n.summary?.watermarkLagMs;
      if (l !== null && l !== undefined) lag = Math.max(lag ?? 0, l);
    }
    $("k-nodes").textContent = `${up.length} / ${snap.nodes.length}`;
    $("k-nodes").className = up.length < snap.nodes.length ? "warn" : "";
    $("k-groups").textContent = fmt(groupsLed);
    $("k-appends").textContent = fmt(appends, 1);
    $("k-commits").textContent = fmt(commits, 1);
    $("k-moves").textContent = fmt(moves);
    $("k-gts").textContent = snap.gtsLeader ?? "none";
    $("k-lag").textContent = ms(lag);
  }

  function renderLagging(snap) {
    const body = $("lagging").querySelector("tbody");
    body.replaceChildren();
    const rows = [];
    for (const n of snap.nodes) for (const g of n.summary?.lagging ?? []) rows.push({ node: n.node, ...g });
    rows.sort((a, b) => b.commitLagBytes - a.commitLagBytes || b.followerLagBytes - a.followerLagBytes);
    if (rows.length === 0) {
      const tr = document.createElement("tr");
      const td = cell("every group led is in step with its followers", "muted");
      td.colSpan = 6;
      tr.append(td);
      body.append(tr);
      return;
    }
    for (const r of rows.slice(0, 12)) {
      const tr = document.createElement("tr");
      tr.append(
        cell(r.node),
        cell(String(r.group), "num"),
        cell(bytes(r.commitLagBytes), "num"),
        cell(bytes(r.followerLagBytes), "num"),
        cell(r.follower ?? "–"),
        cell(fmt(r.unresolvedEntries), "num"),
      );
      body.append(tr);
    }
  }

  /** One x axis (the sample rounds, in seconds) and one series per node. */
  function seriesData(snap, value) {
    const times = new Set();
    for (const n of snap.nodes) for (const p of n.history) times.add(p.t);
    const xs = [...times].sort((a, b) => a - b);
    const data = [xs.map((t) => t / 1000)];
    for (const n of snap.nodes) {
      const at = new Map(n.history.map((p, i) => [p.t, i]));
      data.push(xs.map((t) => (at.has(t) ? value(n.history, at.get(t)) : null)));
    }
    return data;
  }

  function drawChart(id, snap, value, yLabel) {
    const el = $(id);
    const data = seriesData(snap, value);
    const names = snap.nodes.map((n) => n.node).join(",");
    const width = Math.max(300, el.clientWidth);
    if (!charts[id] || charts[id].names !== names) {
      charts[id]?.plot.destroy();
      const axis = { stroke: "#8b98a8", grid: { stroke: "#273240" }, ticks: { stroke: "#273240" } };
      const plot = new uPlot(
        {
          width,
          height: 220,
          series: [
            {},
            ...snap.nodes.map((n, i) => ({
              label: n.node,
              stroke: COLORS[i % COLORS.length],
              width: 2,
              spanGaps: false,
            })),
          ],
          axes: [axis, { ...axis, label: yLabel, size: 60 }],
          scales: { x: { time: true } },
          legend: { live: false },
        },
        data,
        el,
      );
      charts[id] = { plot, names };
    } else {
      charts[id].plot.setSize({ width, height: 220 });
      charts[id].plot.setData(data);
    }
  }

  const perSecond = (field) => (h, i) => {
    if (i === 0) return null;
    const dt = (h[i].t - h[i - 1].t) / 1000;
    return dt > 0 ? Math.max(0, (h[i][field] - h[i - 1][field]) / dt) : null;
  };

  async function refresh() {
    try {
      const res = await fetch("/api/cluster", { cache: "no-store" });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const snap = await res.json();
      $("cluster").textContent = `· cluster ${snap.cluster}`;
      $("self").textContent = snap.self;
      $("updated").textContent = new Date(snap.now).toLocaleTimeString();
      $("live").className = "dot ok";
      renderKpis(snap);
      renderNodes(snap);
      renderLagging(snap);
      drawChart("chart-commits", snap, perSecond("commits"), "commits/s");
      drawChart("chart-leaders", snap, (h, i) => h[i].leaders, "groups led");
      document.body.dataset.refreshed = String(snap.now);
    } catch (err) {
      $("live").className = "dot bad";
      $("updated").textContent = `failed: ${err.message}`;
    }
  }

  refresh();
  setInterval(refresh, REFRESH_MS);
})();
