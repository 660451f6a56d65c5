// nexc dashboard: one static page on nats.ws. It finds nodes with PING,
// reads each one's INFO (tags, memory, pool, workloads with nexc's counters),
// follows $NEX.events and one workload's $NEX.logs, and deploys and stops
// workloads through the control API: the artifact goes to the JetStream
// object store, the workload JWT is signed and the environment sealed here,
// in the page, with nkeys.js. The issuer seed stays in its password field
// and in memory only while a token is signed; nothing stores or sends it.
import { connect, DeliverPolicy, Empty, RequestStrategy } from "nats.ws";
// nkeys.js ships an ES module build for browsers beside its CommonJS main.
import { createAccount, createCurve, fromSeed } from "nkeys.js/nkeys.mjs";
import * as nex from "./lib/nex.js";
import { linePath, areaPath, project, niceCeil, pow2Ceil, windowSpan } from "./lib/chart.js";
import { sandboxText, sandboxDetails, sandboxWeak } from "./lib/sandbox.js";
import { Series, CounterRate, SeriesStore } from "./lib/series.js";
import { HISTORY_LINES, HISTORY_MS, LogDedup, historyStart, logStreamOf, logSubject, showHistoryLine } from "./lib/logs.js";
import { DEPLOYMENTS_BUCKET, deploymentRows, deploymentsEnabled, parseStoredSpec } from "./lib/deployments.js";

const te = new TextEncoder();
const td = new TextDecoder();
const $ = (id) => document.getElementById(id);

const DEFAULT_BUCKET = "NEXCLIFILES";
const PING_WAIT_MS = 500; // how long a PING broadcast collects replies
const REFRESH_MS = 3000;
const GONE_AFTER_MS = 10000; // a node silent this long is greyed out…
const DROP_AFTER_MS = 60000; // …and removed after this
const INFO_TIMEOUT_MS = 2000;
const DEPLOY_TIMEOUT_MS = 15000;
const STOP_TIMEOUT_MS = 10000;
const LOG_MAX = 2000;
const EVENT_MAX = 500;
// Charts: what workload_metrics / node_metrics said over the last 5 minutes.
// Each series is a ring of at most CHART_POINTS (5 min at a 500 ms
// metrics_interval_ms; at shorter intervals the window shrinks to fit), and
// at most MAX_*_SERIES workloads and nodes are followed; a workload or node
// not heard of for a window is forgotten, and one that leaves INFO at once.
const CHART_WINDOW_MS = 5 * 60 * 1000;
const CHART_MIN_SPAN_MS = 60 * 1000; // the x axis grows by minutes up to the window
const CHART_POINTS = 600;
const MAX_WORKLOAD_SERIES = 256;
const MAX_NODE_SERIES = 64;
const MiB = 1024 * 1024;

const S = {
  nc: null,
  url: "",
  ns: "default",
  gen: 0, // connection generation: late results of an old connection are dropped
  timer: null,
  refreshing: false,
  refreshAgain: false,
  refreshSoon: null,
  nodes: new Map(), // node id → {id, ping, info, infoErr, seen, el, rows: Map}
  // workload id → {cpu, mem: Series, data: the last workload_metrics, at}
  wlSeries: new SeriesStore(MAX_WORKLOAD_SERIES, CHART_WINDOW_MS, () => ({
    cpu: new Series(CHART_POINTS, CHART_WINDOW_MS),
    mem: new Series(CHART_POINTS, CHART_WINDOW_MS),
    data: null,
    at: 0,
  })),
  // node id → {deploys (per second), workloads, warm: Series, rate: CounterRate}
  nodeSeries: new SeriesStore(MAX_NODE_SERIES, CHART_WINDOW_MS, () => ({
    deploys: new Series(CHART_POINTS, CHART_WINDOW_MS),
    workloads: new Series(CHART_POINTS, CHART_WINDOW_MS),
    warm: new Series(CHART_POINTS, CHART_WINDOW_MS),
    rate: new CounterRate(),
  })),
  mine: new Map(), // workload id → {iss, iat, name, node}: deployed from this page
  clock: new nex.IatClock(),
  eventSubs: [],
  since: 0, // when this connection began: the charts' x axis grows from it
  events: 0,
  log: null, // {node, name, id, sub | iter, lastSeq, pending, dedup}
};

// ---- small helpers --------------------------------------------------------

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("data-") || k === "title" || k === "type" || k === "role") e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function pad(n, w = 2) {
  return String(n).padStart(w, "0");
}

function clock(d) {
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function fmtBytes(n) {
  if (!Number.isFinite(n)) return "?";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < u.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 2 : 1)} ${u[i]}`;
}

function short(s, n = 10) {
  s = String(s || "");
  return s.length > n + 1 ? `${s.slice(0, n)}…` : s;
}

function nodeLabel(id) {
  const n = S.nodes.get(id);
  const name = n && (n.ping?.tags?.node_name || n.info?.tags?.node_name);
  return name ? `${name} (${short(id, 8)})` : short(id, 12);
}

function setStatus(kind, text) {
  const s = $("status");
  s.className = `status ${kind}`;
  s.textContent = text;
}

function notice(kind, text) {
  const r = $("notice");
  r.className = `result ${kind}`;
  r.textContent = text;
}

function deployResult(kind, text) {
  const r = $("d-result");
  r.className = `result ${kind}`;
  r.textContent = text;
}

function decodeJson(data) {
  return JSON.parse(td.decode(data));
}

async function request(subject, body, timeout) {
  const m = await S.nc.request(subject, body === undefined ? Empty : te.encode(body), { timeout });
  return nex.unwrapEnvelope(td.decode(m.data));
}

function natsErrText(e, what) {
  const msg = e && (e.message || e.code) ? String(e.message || e.code) : String(e);
  if (/503|no responders/i.test(msg)) return `${what}: no responders (is the node still up?)`;
  if (/timeout/i.test(msg)) return `${what}: timed out`;
  return msg;
}

async function sha256Hex(bytes) {
  // WebCrypto exists only in secure contexts (https, localhost, 127.0.0.1);
  // elsewhere the object store's own digest is the only hash we get.
  if (!globalThis.crypto || !globalThis.crypto.subtle) return null;
  return nex.hex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)));
}

// ---- connection -------------------------------------------------------------

async function disconnect() {
  clearInterval(S.timer);
  S.timer = null;
  stopFollowing();
  for (const s of S.eventSubs) s.unsubscribe();
  S.eventSubs = [];
  const nc = S.nc;
  S.nc = null;
  S.nodes.clear();
  S.wlSeries.clear();
  S.nodeSeries.clear();
  renderNodes();
  if (nc) await nc.close().catch(() => {});
}

async function connectTo(url, ns) {
  await disconnect();
  const gen = ++S.gen;
  S.url = url;
  S.ns = ns;
  let nc;
  // Our own retry loop rather than waitOnFirstConnect: a newer Connect (gen)
  // cancels it, where a pending nats.ws connect could not be abandoned.
  for (let attempt = 1; ; attempt++) {
    setStatus("wait", `connecting to ${url}…${attempt > 1 ? ` (attempt ${attempt})` : ""}`);
    try {
      nc = await connect({
        servers: url,
        name: "nexc-dashboard",
        maxReconnectAttempts: -1, // once connected, ride out server restarts
        reconnectTimeWait: 1000,
        timeout: 5000,
      });
      break;
    } catch (e) {
      if (gen !== S.gen) return;
      // Browsers hide why a WebSocket failed: nats.ws then says UNKNOWN_ERROR.
      const why = /UNKNOWN_ERROR|CONNECTION_REFUSED/.test(`${e.code}`)
        ? "is a nats-server websocket listener there?"
        : [e.code, e.message].filter((x) => x && x !== "NatsError").join(": ") || String(e);
      setStatus("off", `cannot connect to ${url} (${why}) · retrying`);
      await new Promise((r) => setTimeout(r, 3000));
      if (gen !== S.gen) return;
    }
  }
  if (gen !== S.gen) {
    nc.close().catch(() => {});
    return;
  }
  S.nc = nc;
  S.since = Date.now();
  setStatus("on", `connected · ${url} · namespace ${ns}`);
  watchStatus(nc, gen);
  subscribeEvents();
  refresh();
  S.timer = setInterval(refresh, REFRESH_MS);
}

async function watchStatus(nc, gen) {
  nc.closed().then((err) => {
    if (gen === S.gen) setStatus("off", err ? `connection closed: ${err.message}` : "connection closed");
  });
  for await (const s of nc.status()) {
    if (gen !== S.gen) return;
    if (s.type === "disconnect" || s.type === "reconnecting") setStatus("wait", `reconnecting to ${S.url}…`);
    else if (s.type === "reconnect") {
      setStatus("on", `connected · ${S.url} · namespace ${S.ns}`);
      refresh();
    } else if (s.type === "error") setStatus("wait", `error: ${s.data}`);
  }
}

// ---- nodes ------------------------------------------------------------------

function scheduleRefresh(ms = 150) {
  clearTimeout(S.refreshSoon);
  S.refreshSoon = setTimeout(refresh, ms);
}

async function refresh() {
  const nc = S.nc;
  if (!nc || nc.isClosed()) return;
  if (S.refreshing) {
    S.refreshAgain = true;
    return;
  }
  S.refreshing = true;
  const gen = S.gen;
  try {
    const pings = [];
    try {
      const replies = await nc.requestMany("$NEX.PING", Empty, {
        maxWait: PING_WAIT_MS,
        strategy: RequestStrategy.Timer,
      });
      for await (const m of replies) {
        try {
          const d = nex.unwrapEnvelope(td.decode(m.data));
          if (d && typeof d.node_id === "string") pings.push(d);
        } catch {
          // unparseable replies are dropped, as Go's collectors do
        }
      }
    } catch {
      // no responders: no node up at the moment
    }
    await Promise.all(
      pings.map(async (p) => {
        let info = null;
        let infoErr = null;
        try {
          info = await request(`$NEX.INFO.${S.ns}.${p.node_id}`, undefined, INFO_TIMEOUT_MS);
        } catch (e) {
          infoErr = natsErrText(e, "INFO");
        }
        if (gen !== S.gen) return;
        const n = S.nodes.get(p.node_id) || { id: p.node_id, rows: new Map() };
        n.ping = p;
        if (info) n.info = info;
        n.infoErr = infoErr;
        n.seen = Date.now();
        S.nodes.set(p.node_id, n);
      }),
    );
    if (gen !== S.gen) return;
    const now = Date.now();
    for (const [id, n] of S.nodes) {
      if (now - n.seen > DROP_AFTER_MS) {
        n.el?.remove();
        S.nodes.delete(id);
        S.nodeSeries.delete(id);
        for (const wid of n.rows.keys()) S.wlSeries.delete(wid);
      }
    }
    S.wlSeries.sweep(now);
    S.nodeSeries.sweep(now);
    renderNodes();
    await refreshDeployments(gen);
  } finally {
    S.refreshing = false;
    if (S.refreshAgain) {
      S.refreshAgain = false;
      scheduleRefresh(0);
    }
  }
}

// At most this many deployments are read from the bucket per refresh.
const DEPLOYMENTS_MAX = 256;

// What the bucket asks for (the nodes check each spec's signature; this
// shows what is asked and what they hold).
async function readDeployments(nc) {
  const kv = await nc.jetstream().views.kv(DEPLOYMENTS_BUCKET, { bindOnly: true });
  const specs = [];
  for await (const k of await kv.keys()) {
    if (specs.length >= DEPLOYMENTS_MAX) break;
    const e = await kv.get(k);
    if (!e || e.operation !== "PUT") continue;
    const s = parseStoredSpec(td.decode(e.value));
    if (s) specs.push(s);
  }
  return specs;
}

// Shown only when a node runs the deployments part (INFO nexc.deployments).
async function refreshDeployments(gen) {
  const panel = document.getElementById("deps-panel");
  const nodes = [...S.nodes.values()];
  if (!deploymentsEnabled(nodes.map((n) => n.info))) {
    panel.hidden = true;
    return;
  }
  let specs = [];
  let note = "";
  try {
    specs = await readDeployments(S.nc);
  } catch (e) {
    note = natsErrText(e, `bucket ${DEPLOYMENTS_BUCKET}`);
  }
  if (gen !== S.gen) return;
  const held = nodes.map((n) => ({ id: n.id, label: nodeLabel(n.id), held: n.info?.nexc?.deployments?.held || [] }));
  const rows = deploymentRows(specs, held, S.ns);
  const body = document.getElementById("deps-body");
  body.replaceChildren(
    ...rows.map((r) =>
      el("tr", { "data-deployment": r.name },
        el("td", { class: "mono", text: r.asked ? r.name : `${r.name} (removed)` }),
        el("td", { text: String(r.desired) }),
        el("td", { class: r.state, text: String(r.running) }),
        el("td", { class: "mono muted", text: r.where || "—" }))),
  );
  if (rows.length === 0) body.append(el("tr", {}, el("td", { class: "empty", text: "none in this namespace" })));
  document.getElementById("deps-count").textContent = rows.length ? String(rows.length) : "";
  document.getElementById("deps-note").textContent = note;
  panel.hidden = false;
}

function renderNodes() {
  const box = $("nodes");
  const nodes = [...S.nodes.values()].sort((a, b) =>
    (a.ping?.tags?.node_name || a.id).localeCompare(b.ping?.tags?.node_name || b.id),
  );
  $("node-count").textContent = nodes.length ? `(${nodes.length})` : "";
  if (nodes.length === 0) {
    box.replaceChildren(
      el("p", { class: "empty nodes-empty", text: S.nc ? "No node has answered a PING yet." : "Not connected." }),
    );
  } else {
    box.querySelector(":scope > .nodes-empty")?.remove();
    for (const n of nodes) {
      if (!n.el) n.el = buildNodeCard(n);
      updateNodeCard(n);
      box.append(n.el); // keeps the order, moves nothing that is in place
    }
  }
  updateNodeSelect(nodes);
}

function buildNodeCard(n) {
  const table = el(
    "table",
    { class: "wl" },
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", { text: "Workload" }),
        el("th", { text: "ID" }),
        el("th", { text: "Uptime" }),
        el("th", { text: "Hash" }),
        el("th", { class: "num", text: "Restarts" }),
        el("th", { class: "num", text: "Log lines", title: "lines published (lines dropped)" }),
        el("th", { text: "CPU", title: "CPUs in use (100% = one CPU), from workload_metrics events" }),
        el("th", { text: "Memory", title: "resident memory of the workload's processes, from workload_metrics events" }),
        el("th", {}),
      ),
    ),
    el("tbody", {}),
  );
  const card = el(
    "article",
    { class: "node", "data-node-id": n.id },
    el("div", { class: "node-head" }),
    el("div", { class: "node-meta" }),
    el("div", { class: "tags" }),
    buildNodeCharts(n),
    el("div", { class: "wl-table-wrap" }, table),
    el("p", { class: "empty wl-empty", text: "No workloads." }),
  );
  card.addEventListener("click", (ev) => {
    const b = ev.target.closest("button[data-action]");
    if (!b) return;
    const row = n.rows.get(b.dataset.id);
    if (!row) return;
    if (b.dataset.action === "logs") followLogs({ node: n.id, name: row.wl.workload.name, id: row.wl.id });
    else if (b.dataset.action === "stop") stopWorkload(n.id, row);
  });
  return card;
}

// A small bar; its width goes through CSSOM (the CSP forbids style attributes).
function usageBar(fraction) {
  const pct = Math.max(0, Math.min(100, Math.round(fraction * 100)));
  const fill = el("i");
  fill.style.width = `${pct}%`;
  return el("span", { class: "bar", title: `${pct}% used` }, fill);
}

function metaItem(label, value, extra) {
  return el("span", {}, `${label} `, el("b", { text: value }), extra);
}

// ---- charts -------------------------------------------------------------------
//
// Plain SVG of fixed pixel size (no scaling, so strokes and dots stay
// crisp): a baseline, a top line at the scale's maximum, the area under the
// series, its line and a dot on the newest point. Points come from
// lib/series.js, path data from lib/chart.js; x runs up to now over the
// time this page has watched, in whole minutes, at most CHART_WINDOW_MS
// (chartSpan), so a series that stops arriving slides left.

const SVG_NS = "http://www.w3.org/2000/svg";
const CHART_PAD = 2;

function chartSpan(now) {
  return windowSpan(now - (S.since || now), CHART_MIN_SPAN_MS, CHART_WINDOW_MS);
}

function svgEl(tag, attrs = {}) {
  const e = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

function makeChart(series, width, height) {
  const svg = svgEl("svg", {
    class: "chart",
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    "data-series": series,
    "aria-hidden": "true",
  });
  const top = svgEl("line", { class: "grid", x1: 0, x2: width, y1: CHART_PAD, y2: CHART_PAD });
  const base = svgEl("line", { class: "base", x1: 0, x2: width, y1: height - CHART_PAD, y2: height - CHART_PAD });
  const area = svgEl("path", { class: "area", d: "" });
  const line = svgEl("path", { class: "line", d: "" });
  const dot = svgEl("circle", { class: "dot", r: 2, cx: -10, cy: -10 });
  svg.append(top, base, area, line, dot);
  return { svg, area, line, dot, width, height };
}

// Draws series on chart c against a scale from 0 to yMax(largest value in
// the window); returns {last, top} for the caption (NaN when empty).
function drawChart(c, series, now, yMax) {
  series.prune(now);
  const points = series.points();
  const top = yMax(series.length ? series.max() : 0);
  const step = series.step();
  const opts = {
    t0: now - chartSpan(now),
    t1: now,
    width: c.width - CHART_PAD - 1, // the newest point's dot stays inside
    height: c.height,
    yMax: top,
    pad: CHART_PAD,
    // a missed sample or two is a gap, not a straight line across
    gapMs: Number.isFinite(step) ? Math.max(3 * step, step + 1000) : Infinity,
  };
  c.line.setAttribute("d", linePath(points, opts));
  c.area.setAttribute("d", areaPath(points, opts));
  c.svg.setAttribute("data-points", String(points.length));
  const runs = project(points.slice(-1), opts);
  const lastXY = runs.length ? runs[0][0] : [-10, -10];
  c.dot.setAttribute("cx", String(lastXY[0]));
  c.dot.setAttribute("cy", String(lastXY[1]));
  return { last: series.lastValue(), top };
}

const fmtCpu = (v) => (Number.isFinite(v) ? `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%` : "–");
const fmtCount = (v) => (Number.isFinite(v) ? String(Math.round(v)) : "–");
const fmtRate = (v) => (Number.isFinite(v) ? String(Number(v.toFixed(v < 10 ? 2 : 0))) : "–");

// The node's three charts, from node_metrics: each on its own scale.
const NODE_CHARTS = [
  { key: "deploys", label: "deploys/s", fmt: fmtRate, yMax: (m) => niceCeil(m, 0.5), what: "successful deploys per second" },
  { key: "workloads", label: "workloads", fmt: fmtCount, yMax: (m) => niceCeil(m, 2), what: "workloads on the node" },
  { key: "warm", label: "warm agents", fmt: fmtCount, yMax: (m) => niceCeil(m, 2), what: "idle agents in the pool" },
];
const NODE_CHART_W = 220;
const NODE_CHART_H = 44;

function buildNodeCharts(n) {
  n.charts = {};
  const figs = NODE_CHARTS.map((spec) => {
    const c = makeChart(spec.key, NODE_CHART_W, NODE_CHART_H);
    c.value = el("b", { text: "–" });
    c.scale = el("span", { class: "muted" });
    n.charts[spec.key] = c;
    return el(
      "figure",
      { class: "nchart", "data-series": spec.key, title: `${spec.what}, from node_metrics events` },
      el("figcaption", {}, `${spec.label} `, c.value, " ", c.scale),
      c.svg,
    );
  });
  n.chartNote = el("span", { class: "muted chart-note" });
  return el("div", { class: "node-charts" }, ...figs, n.chartNote);
}

function drawNodeCharts(n) {
  if (!n.charts) return;
  const now = Date.now();
  const g = S.nodeSeries.get(n.id);
  for (const spec of NODE_CHARTS) {
    const c = n.charts[spec.key];
    const series = g ? g[spec.key] : new Series(1, CHART_WINDOW_MS);
    const { last, top } = drawChart(c, series, now, spec.yMax);
    c.value.textContent = spec.fmt(last);
    c.scale.textContent = `/ ${spec.fmt(top)}`;
  }
  n.chartNote.textContent = g && g.workloads.length ? `last ${Math.round(chartSpan(now) / 60000)} min` : "waiting for node_metrics…";
}

const SPARK_W = 50;
const SPARK_H = 18;

function sparkCell(series) {
  const td = el("td", { class: "spark" });
  const c = makeChart(series, SPARK_W, SPARK_H);
  c.value = el("span", { class: "spark-value" });
  td.append(c.svg, c.value);
  return { td, c };
}

function updateNodeCard(n) {
  const p = n.ping || {};
  const info = n.info || {};
  const tags = info.tags || p.tags || {};
  const gone = Date.now() - n.seen > GONE_AFTER_MS;
  n.el.classList.toggle("gone", gone);

  const head = [
    el("span", { class: "node-name", text: tags.node_name || "node" }),
    el("span", { class: "node-id mono", text: n.id }),
    el("span", { class: "muted", text: `v${p.version || info.version || "?"}` }),
  ];
  if (tags["nex.lameduck"] === "true") head.push(el("span", { class: "tag alert", text: "lame duck" }));
  if (gone) head.push(el("span", { class: "tag alert", text: "not answering" }));
  n.el.querySelector(".node-head").replaceChildren(...head);

  const meta = [metaItem("up", p.uptime || info.uptime || "?")];
  if (tags["nex.cpucount"]) meta.push(metaItem("CPUs", tags["nex.cpucount"]));
  if (info.memory && info.memory.total) {
    const used = 1 - info.memory.available / info.memory.total;
    meta.push(
      metaItem(
        "memory free",
        `${fmtBytes(info.memory.available * 1024)} / ${fmtBytes(info.memory.total * 1024)}`,
        usageBar(used),
      ),
    );
  }
  meta.push(metaItem("workloads", String(info.machines ? info.machines.length : p.running_machines ?? "?")));
  const x = info.nexc;
  if (x) {
    if (x.pool) {
      meta.push(
        metaItem("warm agents", `${x.pool.warm}/${x.pool.size}${x.pool.starting ? ` (+${x.pool.starting} starting)` : ""}`),
      );
    }
    meta.push(metaItem("deploys", `${x.deploys} ok, ${x.deploys_failed} failed`));
    meta.push(metaItem("log lines", `${x.log_lines}${x.log_dropped ? `, ${x.log_dropped} dropped` : ""}`));
    const sb = metaItem("sandbox", sandboxText(x.sandbox));
    sb.title = sandboxDetails(x.sandbox);
    if (sandboxWeak(x.sandbox)) sb.classList.add("weak");
    meta.push(sb);
    if (x.pool && x.pool.refill_failures_in_row) {
      meta.push(el("span", { class: "tag alert", text: `pool refill failing: ${x.pool.last_error || "?"}` }));
    }
  }
  if (n.infoErr) meta.push(el("span", { class: "tag alert", text: n.infoErr }));
  n.el.querySelector(".node-meta").replaceChildren(...meta);

  n.el.querySelector(".tags").replaceChildren(
    ...Object.keys(tags)
      .sort()
      .map((k) => el("span", { class: `tag${k === "nex.unsafe" || k === "nex.lameduck" ? " alert" : ""}`, text: `${k}=${tags[k]}` })),
  );

  // Workload rows, keyed by id so their buttons survive refreshes.
  const tbody = n.el.querySelector("tbody");
  const machines = info.machines || [];
  const seen = new Set();
  for (const wl of machines) {
    seen.add(wl.id);
    let row = n.rows.get(wl.id);
    if (!row) {
      row = buildRow(wl);
      n.rows.set(wl.id, row);
    }
    row.wl = wl;
    updateRow(row);
    tbody.append(row.tr);
  }
  for (const [id, row] of n.rows) {
    if (!seen.has(id)) {
      row.tr.remove();
      n.rows.delete(id);
      S.wlSeries.delete(id); // gone from INFO: its charts go with it
    }
  }
  drawNodeCharts(n);
  n.el.querySelector(".wl-table-wrap").hidden = machines.length === 0;
  n.el.querySelector(".wl-empty").hidden = machines.length !== 0;
}

function buildRow(wl) {
  const cells = {};
  for (const k of ["name", "id", "uptime", "hash", "restarts", "lines"]) {
    cells[k] = el("td", { class: ["restarts", "lines"].includes(k) ? "num" : k === "id" || k === "hash" ? "mono" : "" });
  }
  const cpu = sparkCell("cpu");
  const mem = sparkCell("mem");
  cells.cpu = cpu.td;
  cells.mem = mem.td;
  const logsBtn = el("button", { type: "button", class: "small", "data-action": "logs", "data-id": wl.id, text: "Logs" });
  const stopBtn = el("button", { type: "button", class: "small danger", "data-action": "stop", "data-id": wl.id, text: "Stop" });
  const tr = el("tr", { "data-workload-id": wl.id }, Object.values(cells), el("td", { class: "actions" }, logsBtn, stopBtn));
  return { tr, cells, stopBtn, wl, cpu: cpu.c, mem: mem.c };
}

function updateRow(row) {
  const w = row.wl;
  const c = row.cells;
  c.name.replaceChildren(w.workload?.name || "?", " ", el("span", { class: "muted", text: w.workload?.type || "" }));
  c.name.title = w.workload?.description || "";
  c.id.textContent = w.id;
  c.uptime.textContent = w.uptime || "?";
  c.hash.textContent = short(w.workload?.hash, 8);
  c.hash.title = w.workload?.hash ? `sha256 ${w.workload.hash}` : "";
  c.restarts.textContent = w.restarts ?? "–";
  c.lines.textContent = w.log_lines === undefined ? "–" : `${w.log_lines}${w.log_dropped ? ` (${w.log_dropped} dropped)` : ""}`;
  updateSparks(row);
  row.tr.classList.toggle("selected", !!S.log && S.log.id === w.id);
}

// The CPU and memory cells: up to the last 5 minutes of workload_metrics as
// sparklines, beside the newest figures (an event's, or INFO's
// machines[].metrics when that is newer or there was no event yet).
function updateSparks(row) {
  const w = row.wl;
  const now = Date.now();
  const g = S.wlSeries.get(w.id);
  const ev = g && g.data ? { data: g.data, at: g.at } : null;
  const m = ev && (!w.metrics || now - ev.at < REFRESH_MS) ? ev : w.metrics ? { data: w.metrics } : ev;
  const d = m && m.data && typeof m.data === "object" ? m.data : null;
  const num = (k) => (d && typeof d[k] === "number" ? d[k] : undefined);
  const span = `last ${Math.round(chartSpan(now) / 60000)} min`;
  const none = d ? JSON.stringify(d) : "no workload_metrics event yet";
  const empty = new Series(1, CHART_WINDOW_MS);

  const cpu = drawChart(row.cpu, g ? g.cpu : empty, now, (x) => niceCeil(x, 0.05));
  let cpuText = "–";
  if (num("cpu_rate") !== undefined) cpuText = fmtCpu(d.cpu_rate);
  else if (num("cpu_time_ms") !== undefined) cpuText = `${(d.cpu_time_ms / 1000).toFixed(2)} s`;
  else if (d) cpuText = metricsText(m); // another node's shape: whatever it holds
  row.cpu.value.textContent = cpuText;
  const cpuTotal = num("cpu_time_ms") !== undefined ? ` · ${(d.cpu_time_ms / 1000).toFixed(2)} s in all` : "";
  row.cells.cpu.title =
    g && g.cpu.length ? `CPU, ${span}: max ${fmtCpu(g.cpu.max())} (scale ${fmtCpu(cpu.top)})${cpuTotal}` : none;

  const mem = drawChart(row.mem, g ? g.mem : empty, now, (x) => pow2Ceil(x, MiB));
  row.mem.value.textContent = num("memory_bytes") !== undefined ? fmtBytes(d.memory_bytes) : "–";
  const peak = num("memory_peak_bytes") !== undefined ? ` · peak ${fmtBytes(d.memory_peak_bytes)}` : "";
  const procs = num("pids") !== undefined ? ` · ${d.pids} process${d.pids === 1 ? "" : "es"}` : "";
  row.cells.mem.title =
    g && g.mem.length ? `memory, ${span}: max ${fmtBytes(g.mem.max())} (scale ${fmtBytes(mem.top)})${peak}${procs}` : none;
}

// Per-workload CPU and memory: nexc's workload_metrics events (and INFO's
// machines[].metrics, where the node has them) carry cpu_rate (CPUs in use),
// cpu_time_ms, memory_bytes, memory_peak_bytes and pids. Other shapes are
// shown by whatever CPU and memory numbers they hold.
function metricsText(m) {
  const d = m && m.data;
  if (!d || typeof d !== "object") return "–";
  const parts = [];
  if (typeof d.cpu_rate === "number") parts.push(`CPU ${(d.cpu_rate * 100).toFixed(1)}%`);
  else if (typeof d.cpu_time_ms === "number") parts.push(`CPU ${(d.cpu_time_ms / 1000).toFixed(2)} s`);
  if (typeof d.memory_bytes === "number" && d.memory_bytes > 0) parts.push(fmtBytes(d.memory_bytes));
  if (typeof d.pids === "number" && d.pids > 1) parts.push(`${d.pids} procs`);
  if (parts.length) return parts.join(" · ");
  for (const [k, v] of Object.entries(d)) {
    if (typeof v !== "number") continue;
    if (/cpu/i.test(k)) {
      if (/pct|percent/i.test(k)) parts.push(`CPU ${v.toFixed(1)}%`);
      else if (/_ns$|nanos/i.test(k)) parts.push(`CPU ${(v / 1e9).toFixed(2)} s`);
      else if (/_ms$|millis/i.test(k)) parts.push(`CPU ${(v / 1e3).toFixed(2)} s`);
      else parts.push(`${k} ${v}`);
    } else if (/mem|rss/i.test(k) && !/peak|max/i.test(k)) {
      if (/pct|percent/i.test(k)) parts.push(`mem ${v.toFixed(1)}%`);
      else if (/kb|kib/i.test(k)) parts.push(`mem ${fmtBytes(v * 1024)}`);
      else parts.push(`mem ${fmtBytes(v)}`);
    }
  }
  return parts.length ? parts.join(" · ") : "–";
}

function updateNodeSelect(nodes) {
  const sel = $("d-node");
  const prev = sel.value;
  const opts = nodes.map((n) => el("option", { value: n.id, text: `${n.ping?.tags?.node_name || "node"} · ${short(n.id, 12)}` }));
  const same =
    opts.length === sel.options.length && opts.every((o, i) => o.value === sel.options[i].value && o.text === sel.options[i].text);
  if (!same) {
    sel.replaceChildren(...opts);
    if (nodes.some((n) => n.id === prev)) sel.value = prev;
  }
  updateTypeSelect();
}

function updateTypeSelect() {
  const sel = $("d-type");
  const n = S.nodes.get($("d-node").value);
  const types = n?.info?.supported_workload_types?.length ? n.info.supported_workload_types : ["native"];
  const prev = sel.value;
  if ([...sel.options].map((o) => o.value).join() === types.join()) return;
  sel.replaceChildren(...types.map((t) => el("option", { value: t, text: t })));
  sel.value = types.includes(prev) ? prev : types.includes("native") ? "native" : types[0];
}

// ---- events -----------------------------------------------------------------

function subscribeEvents() {
  const subjects = [`$NEX.events.${S.ns}.*`];
  if (S.ns.toLowerCase() !== "system") subjects.push("$NEX.events.system.*");
  for (const subject of subjects) {
    S.eventSubs.push(S.nc.subscribe(subject, { callback: (err, m) => !err && onEvent(m) }));
  }
}

function summarize(type, d, ev) {
  if (d === null || typeof d !== "object") return d === undefined ? "" : JSON.stringify(d);
  switch (type) {
    case "workload_started":
      return `${d.workload_name} started · ${ev.source}`;
    case "workload_stopped":
      return `${d.workload_name} stopped · code ${d.code}${d.message ? ` · ${d.message}` : ""}`;
    case "heartbeat":
      return `${nodeLabel(d.node_id)} · up ${d.uptime} · ${d.running_machines} running`;
    case "node_started":
    case "node_entered_lameduck":
      return `${nodeLabel(d.id)} · v${d.version}`;
    case "node_stopped":
      return `${nodeLabel(d.id)}${d.graceful ? " · graceful" : ""}`;
    case "workload_metrics":
      return `${d.workload_name || short(ev.source, 20)} · ${metricsText({ data: d })}`;
    case "node_metrics":
      return `${nodeLabel(d.node_id)} · ${d.workloads} running · ${d.warm_agents} warm · ${d.deploys} deploys · ${d.log_lines} log lines`;
    default:
      return JSON.stringify(d);
  }
}

// Events that arrive on a timer; a checkbox hides them.
const PERIODIC = new Set(["heartbeat", "workload_metrics", "node_metrics"]);

function onEvent(m) {
  let ev;
  try {
    ev = decodeJson(m.data);
  } catch {
    ev = { data: td.decode(m.data) };
  }
  const tok = m.subject.split(".");
  const ns = tok[2] || "";
  const type = tok[3] || ev.type || "?";
  const d = ev.data;
  const when = ev.time ? new Date(ev.time) : new Date();

  // Charted at the time the page received them: the node's clock may differ.
  if (type === "workload_metrics" && d && typeof d === "object") {
    const wid = d.workload_id || d.id || ev.source;
    if (typeof wid === "string" && wid) {
      const now = Date.now();
      const g = S.wlSeries.touch(wid, now);
      g.data = d;
      g.at = now;
      if (typeof d.cpu_rate === "number") g.cpu.push(now, d.cpu_rate);
      if (typeof d.memory_bytes === "number") g.mem.push(now, d.memory_bytes);
      for (const n of S.nodes.values()) {
        const row = n.rows.get(wid);
        if (row) updateSparks(row);
      }
    }
  }
  if (type === "node_metrics" && d && typeof d === "object" && typeof d.node_id === "string") {
    const now = Date.now();
    const g = S.nodeSeries.touch(d.node_id, now);
    const rate = g.rate.next(now, d.deploys);
    if (rate !== null) g.deploys.push(now, rate);
    if (typeof d.workloads === "number") g.workloads.push(now, d.workloads);
    if (typeof d.warm_agents === "number") g.warm.push(now, d.warm_agents);
    const n = S.nodes.get(d.node_id);
    if (n) drawNodeCharts(n);
  }
  if (type === "heartbeat" && d && S.nodes.has(d.node_id)) S.nodes.get(d.node_id).seen = Date.now();
  if (/^(workload_started|workload_stopped|node_started|node_stopped|node_entered_lameduck)$/.test(type)) {
    scheduleRefresh();
  }
  if (type === "workload_stopped" && S.log && S.log.id && ev.source === S.log.id) {
    logNote(`workload stopped: ${d?.message || `code ${d?.code}`}`);
  }

  const list = $("event-list");
  const row = el(
    "div",
    { class: `ev${PERIODIC.has(type) ? " periodic" : ""}`, "data-type": type, "data-source": ev.source || "", title: JSON.stringify(ev) },
    el("span", { class: "t", text: clock(Number.isNaN(when.getTime()) ? new Date() : when) }),
    el("span", { class: `type ${type}`, text: type }),
    el("span", { class: "detail" }, el("span", { class: "ns", text: ns }), summarize(type, d, ev)),
  );
  list.prepend(row);
  while (list.childElementCount > EVENT_MAX) list.lastElementChild.remove();
  S.events++;
  $("event-count").textContent = `(${S.events})`;
}

// ---- logs -------------------------------------------------------------------

function stopFollowing() {
  if (S.log && S.log.sub) S.log.sub.unsubscribe();
  if (S.log && S.log.iter) S.log.iter.stop();
  S.log = null;
}

// With a log stream on the node (its INFO says which), the pane starts with
// the recent history (the last 10 minutes, at most the last 500 lines) and
// goes on with new lines from the same ordered consumer: no gap, no repeat
// at the seam. Without one, or if the consumer cannot be made, a plain
// subscription: new lines only, as before.
function followLogs({ node, name, id }) {
  stopFollowing();
  if (!S.nc) return;
  const L = { node, name, id: id || null, lastSeq: 0, pending: [], sub: null, iter: null, dedup: new LogDedup() };
  S.log = L;
  const subject = logSubject(S.ns, node, name, id);
  const stream = logStreamOf(S.nodes.get(node)?.info);
  $("log-lines").replaceChildren();
  updateLogTitle();
  for (const n of S.nodes.values()) for (const row of n.rows.values()) updateRow(row);
  if (!stream) {
    followLive(L, subject);
    return;
  }
  followStream(L, subject, stream).catch((e) => {
    if (L !== S.log) return;
    logNote(`no history from stream ${stream}: ${e.message || e}`);
    followLive(L, subject);
  });
}

function followLive(L, subject) {
  L.sub = S.nc.subscribe(subject, { callback: (err, m) => !err && onLog(m, L) });
  logNote(`following ${subject}`);
}

async function followStream(L, subject, stream) {
  const c = await S.nc.jetstream().consumers.get(stream, {
    filterSubjects: subject,
    deliver_policy: DeliverPolicy.StartTime,
    opt_start_time: historyStart(Date.now(), HISTORY_MS),
  });
  if (L !== S.log) return;
  L.iter = await c.consume();
  if (L !== S.log) {
    L.iter.stop();
    return;
  }
  logNote(`following ${subject}, from the last ${HISTORY_MS / 60000} minutes (at most ${HISTORY_LINES} lines) of stream ${stream}`);
  for await (const m of L.iter) {
    if (L !== S.log) break;
    if (!showHistoryLine(m.info.pending)) continue;
    onLog(m, L, new Date(Math.floor(m.info.timestampNanos / 1e6)));
  }
}

function updateLogTitle() {
  const L = S.log;
  $("log-title").textContent = L ? `${L.name} · ${L.id || "starting…"} · ${nodeLabel(L.node)}` : "choose a workload";
}

// A deploy subscribes by name before it knows the id (so the first lines are
// not missed), then keeps only the lines of the id the node returned.
function setLogId(id) {
  const L = S.log;
  if (!L) return;
  L.id = id;
  for (const p of L.pending) if (p.id === id) appendLog(L, p);
  L.pending = [];
  updateLogTitle();
  for (const n of S.nodes.values()) for (const row of n.rows.values()) updateRow(row);
}

function onLog(m, L, at = new Date()) {
  if (L !== S.log) return;
  let body;
  try {
    body = decodeJson(m.data);
  } catch {
    body = { text: td.decode(m.data), level: "INFO" };
  }
  const seq = Number(m.headers?.get("Nexc-Seq")) || 0;
  const line = {
    id: m.subject.split(".")[5] || body.id,
    text: String(body.text ?? ""),
    level: String(body.level || "INFO"),
    seq,
    dropped: m.headers?.get("Nexc-Dropped") || "",
    at,
  };
  if (!L.id) {
    L.pending.push(line);
    if (L.pending.length > LOG_MAX) L.pending.shift();
    return;
  }
  if (line.id !== L.id) return;
  appendLog(L, line);
}

function appendLog(L, line) {
  const box = $("log-lines");
  if (!L.dedup.accept(line.id, line.seq, line.dropped)) return; // published again (at-least-once)
  if (line.seq && L.lastSeq && line.seq > L.lastSeq + 1) {
    const missed = line.seq - L.lastSeq - 1;
    box.append(el("div", { class: "line gap", text: `… ${missed} line${missed === 1 ? "" : "s"} not received` }));
  }
  if (line.seq) L.lastSeq = line.seq;
  const lv = line.level.toUpperCase().replace(/[^A-Z].*$/, "");
  box.append(
    el(
      "div",
      { class: "line" },
      el("span", { class: "t", text: clock(line.at) }),
      el("span", { class: `lv ${lv}`, text: lv }),
      line.text.replace(/\n$/, ""),
    ),
  );
  trimAndScroll(box);
}

function logNote(text) {
  const box = $("log-lines");
  box.append(el("div", { class: "line note", text }));
  trimAndScroll(box);
}

function trimAndScroll(box) {
  while (box.childElementCount > LOG_MAX) box.firstElementChild.remove();
  if ($("log-follow").checked) box.scrollTop = box.scrollHeight;
}

// ---- issuer -----------------------------------------------------------------

// The seed is read from its field for each signature and the key pair wiped
// right after; the field itself is a password input with autocomplete off.
function issuerFromField() {
  const seed = $("d-seed").value.trim();
  if (!seed) throw new Error("paste the issuer seed (S…) or create a new issuer key");
  let kp;
  try {
    kp = fromSeed(te.encode(seed));
  } catch {
    throw new Error("the issuer seed is not a valid nkey seed");
  }
  if (kp.getPublicKey().startsWith("X")) {
    kp.clear();
    throw new Error("that is an xkey (curve) seed; the issuer must be a signing seed such as SA…");
  }
  return kp;
}

function showIssuer() {
  const out = $("d-issuer");
  if (!$("d-seed").value.trim()) {
    out.textContent = "";
    return;
  }
  try {
    const kp = issuerFromField();
    out.textContent = `issuer ${kp.getPublicKey()}`;
    kp.clear();
  } catch (e) {
    out.textContent = e.message;
  }
}

function newIssuer() {
  const kp = createAccount();
  $("d-seed").value = td.decode(kp.getSeed());
  kp.clear();
  showIssuer();
}

// ---- deploy -----------------------------------------------------------------

async function deploy(ev) {
  ev.preventDefault();
  const btn = $("d-submit");
  btn.disabled = true;
  let issuer = null;
  let sender = null;
  try {
    if (!S.nc) throw new Error("not connected");
    const node = $("d-node").value;
    if (!node) throw new Error("no node to deploy to");
    const name = $("d-name").value.trim();
    if (!nex.NAME_RE.test(name)) throw new Error("the workload name must match ^[a-zA-Z0-9_-]+$");
    const type = $("d-type").value || "native";
    const env = nex.parseEnv($("d-env").value);
    const bucket = $("d-bucket").value.trim() || DEFAULT_BUCKET;
    if (!nex.BUCKET_RE.test(bucket)) throw new Error("the bucket name must match ^[a-zA-Z0-9_-]+$");
    const key = $("d-key").value.trim() || name;
    const fromFile = document.querySelector('input[name="d-src"]:checked').value === "file";
    issuer = issuerFromField();

    deployResult("busy", "asking the node for its xkey…");
    const info = await request(`$NEX.INFO.${S.ns}.${node}`, undefined, INFO_TIMEOUT_MS).catch((e) => {
      throw new Error(natsErrText(e, "INFO"));
    });
    const xkey = info && info.public_xkey;
    if (!xkey || !xkey.startsWith("X")) throw new Error("the node's INFO has no public_xkey");

    let hash;
    const js = S.nc.jetstream();
    if (fromFile) {
      const f = $("d-file").files[0];
      if (!f) throw new Error("choose a file to upload (or pick an existing object)");
      const bytes = new Uint8Array(await f.arrayBuffer());
      if (bytes.length === 0) throw new Error(`${f.name} is empty`);
      deployResult("busy", `uploading ${f.name} (${fmtBytes(bytes.length)}) to ${bucket}/${key}…`);
      const local = await sha256Hex(bytes);
      const os = await js.views.os(bucket); // created when missing
      const oi = await os.putBlob({ name: key, description: f.name }, bytes);
      hash = nex.digestToHex(oi.digest);
      if (!hash) throw new Error("the object store returned no SHA-256 digest");
      if (local && local !== hash) throw new Error(`uploaded digest ${hash} differs from the file's sha256 ${local}`);
    } else {
      const jsm = await S.nc.jetstreamManager();
      try {
        await jsm.streams.info(`OBJ_${bucket}`);
      } catch {
        throw new Error(`there is no object store bucket ${bucket}`);
      }
      const oi = await (await js.views.os(bucket)).info(key);
      if (!oi || oi.deleted) throw new Error(`there is no object ${key} in bucket ${bucket}`);
      hash = nex.digestToHex(oi.digest);
      if (!hash) throw new Error(`object ${bucket}/${key} has no SHA-256 digest`);
    }

    sender = createCurve(); // a fresh sender xkey per deploy, as api/nexc.c does
    const fields = {
      description: $("d-desc").value,
      type,
      bucket,
      key,
      essential: $("d-essential").checked,
      environment: nex.sealEnv(env, xkey, sender),
      senderPublicKey: sender.getPublicKey(),
      targetNode: node,
    };
    // The node refuses a deploy whose JWT hash is not the artifact's sha256;
    // the token is bound to this request, for this node, as a deploy
    // (nexc's bound tokens: a node with require_bound_tokens wants them).
    const { token, claims } = nex.encodeJwt(
      { sub: name, iat: S.clock.next(), hash, aud: node, purpose: "deploy", bind: nex.deployDigest(fields) },
      issuer,
    );
    const body = nex.deployRequestJson({ ...fields, workloadJwt: token });

    followLogs({ node, name, id: null });
    deployResult("busy", `deploying ${name}…`);
    let data;
    try {
      data = await request(`$NEX.DEPLOY.${S.ns}.${node}`, body, DEPLOY_TIMEOUT_MS);
    } catch (e) {
      stopFollowing();
      updateLogTitle();
      throw new Error(natsErrText(e, "DEPLOY"));
    }
    S.mine.set(data.id, { iss: claims.iss, iat: claims.iat, name: data.name, node });
    setLogId(data.id);
    deployResult("ok", `started ${data.name} · ${data.id}`);
    scheduleRefresh(0);
  } catch (e) {
    deployResult("err", e.message || String(e));
  } finally {
    issuer?.clear();
    sender?.clear();
    btn.disabled = false;
  }
}

// ---- stop -------------------------------------------------------------------

async function stopWorkload(node, row) {
  const wl = row.wl;
  const name = wl.workload?.name;
  let issuer = null;
  row.stopBtn.disabled = true;
  row.tr.classList.add("stopping");
  notice("busy", `stopping ${name} · ${wl.id}…`);
  try {
    issuer = issuerFromField();
    const mine = S.mine.get(wl.id);
    if (mine) {
      if (mine.iss !== issuer.getPublicKey()) {
        throw new Error(`${wl.id} was deployed by ${mine.iss}, not by the issuer in the seed field`);
      }
      S.clock.observe(mine.iat); // the stop JWT must be newer than the deploy's
    }
    // Bound: a stop, of this workload, on this node.
    const { token } = nex.encodeJwt({ sub: name, iat: S.clock.next(), aud: node, purpose: "stop", bind: wl.id }, issuer);
    const d = await request(`$NEX.STOP.${S.ns}.${node}`, nex.stopRequestJson(wl.id, token, node), STOP_TIMEOUT_MS).catch(
      (e) => {
        throw new Error(natsErrText(e, "STOP"));
      },
    );
    notice("ok", `stopped ${d.name} · ${d.id}`);
  } catch (e) {
    notice("err", `stop ${name}: ${e.message || e}`);
    row.stopBtn.disabled = false;
    row.tr.classList.remove("stopping");
  } finally {
    issuer?.clear();
    scheduleRefresh(0);
  }
}

// ---- start --------------------------------------------------------------------

function defaultWsUrl() {
  const host = location.hostname || "127.0.0.1";
  return `ws://${host.includes(":") ? `[${host}]` : host}:8080`;
}

function init() {
  const q = new URLSearchParams(location.search);
  $("ws-url").value = q.get("ws") || defaultWsUrl();
  $("ns").value = q.get("ns") || "default";

  $("conn-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const url = $("ws-url").value.trim();
    const ns = $("ns").value.trim() || "default";
    if (location.protocol !== "file:") {
      // ?ws=ws://host:port stays readable (and copyable) in the address bar
      const enc = (v) => encodeURIComponent(v).replace(/%3A/gi, ":").replace(/%2F/gi, "/");
      history.replaceState(null, "", `?ws=${enc(url)}${ns === "default" ? "" : `&ns=${enc(ns)}`}`);
    }
    connectTo(url, ns);
  });
  $("refresh").addEventListener("click", () => refresh());
  $("d-node").addEventListener("change", updateTypeSelect);
  $("deploy-form").addEventListener("submit", deploy);
  $("d-gen").addEventListener("click", newIssuer);
  $("d-seed").addEventListener("input", showIssuer);
  $("d-file").addEventListener("change", () => {
    document.querySelector('input[name="d-src"][value="file"]').checked = true;
    const f = $("d-file").files[0];
    if (f && !$("d-name").value.trim()) {
      const guess = f.name.replace(/\.[^.]*$/, "").replace(/[^a-zA-Z0-9_-]/g, "");
      if (guess) $("d-name").value = guess;
    }
  });
  $("log-clear").addEventListener("click", () => $("log-lines").replaceChildren());
  $("event-periodic").addEventListener("change", () =>
    $("event-list").classList.toggle("hide-periodic", !$("event-periodic").checked),
  );
  $("event-clear").addEventListener("click", () => {
    $("event-list").replaceChildren();
    S.events = 0;
    $("event-count").textContent = "";
  });
  renderNodes();
  connectTo($("ws-url").value.trim(), $("ns").value.trim() || "default");
}

init();
