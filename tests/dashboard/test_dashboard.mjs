#!/usr/bin/env node
// The dashboard in a real browser: headless Chromium (Debian's /usr/bin/chromium)
// driven by playwright-core, against a real nats-server (TCP + WebSocket
// listener, JetStream) and a real nexc-node.
//
//   1. the page lists the node (its id, tags, capacity, the sandbox in words:
//      nowhere "[object Object]");
//   2. deploying build/examples/ticker from the page (file upload to the object
//      store, JWT signed and environment sealed in the page) shows a "tick" log
//      line in the log pane within 5 s; the node chart and the workload's
//      CPU and memory sparklines gain points as metrics events arrive (the
//      node sends them every METRICS_MS);
//   3. Stop on the page produces workload_stopped, seen in the page's event
//      pane and by a separate NATS subscription of this test (over TCP);
//   4. a deploy of an existing object-store object, a stop refused in the page
//      for the wrong issuer, then accepted with the right one;
//   5. the issuer seed never crossed NATS (a ">" subscription saw every
//      message) and the page stored nothing (web storage, cookies).
// Screenshots go to --out (dashboard.png while the workload runs,
// dashboard-node.png its node card with the charts,
// dashboard-stopped.png after the stop, dashboard-failure.png on a failure).
//
// Usage: node test_dashboard.mjs --source SRC --build BUILD --out DIR
// Exits 0 when all pass, 1 on a failure, 77 (ctest SKIPPED) when Chromium or
// the dashboard's node_modules (scripts/dashboard-build --deps) are missing.
// NEXC_IT_KEEP=1 keeps the temp dir (logs, store) for inspection.
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const CHROMIUM = process.env.NEXC_CHROMIUM || "/usr/bin/chromium";
const LOG_WITHIN_MS = 5000;
const STOP_EVENT_WITHIN_MS = 5000;
const METRICS_MS = 500; // the node's metrics_interval_ms (default 5000)

// ---- arguments and prerequisites ---------------------------------------------

function arg(name, def) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}
const here = path.dirname(fileURLToPath(import.meta.url));
const SRC = path.resolve(arg("source", path.join(here, "..", "..")));
const BUILD = path.resolve(arg("build", path.join(SRC, "build")));
const OUT = path.resolve(arg("out", process.cwd()));
const DASH = path.join(SRC, "dashboard");

function skip(why) {
  console.log(`SKIP: ${why}`);
  process.exit(77);
}

if (!fs.existsSync(CHROMIUM)) skip(`${CHROMIUM} is missing (apt-get install -y chromium)`);
const dashRequire = createRequire(path.join(DASH, "package.json"));
const mods = {};
for (const m of ["playwright-core", "nats", "nkeys.js"]) {
  try {
    mods[m] = dashRequire(m);
  } catch {
    skip(`${m} is not in dashboard/node_modules (run scripts/dashboard-build --deps)`);
  }
}
if (spawnSync("sh", ["-c", "command -v nats-server"]).status !== 0) skip("nats-server is not installed");
const { chromium } = mods["playwright-core"];
const { connect, StringCodec } = mods.nats;
const nkeys = mods["nkeys.js"];
const sc = StringCodec();

const NODE_BIN = path.join(BUILD, "node", "nexc-node");
const TICKER = path.join(BUILD, "examples", "ticker");

// ---- reporting ----------------------------------------------------------------

let passed = 0;
let failed = 0;
const t0 = Date.now();
function ok(what) {
  passed++;
  console.log(`ok ${passed} - ${what} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
}
class Failure extends Error {}
function check(cond, what) {
  if (!cond) throw new Failure(what);
}

// ---- processes ----------------------------------------------------------------

const children = [];
const useSetpriv = fs.existsSync("/usr/bin/setpriv");

// Start a child with its output in logPath; with setpriv it dies with us even
// when ctest SIGKILLs this test on a timeout.
function start(argv, logPath) {
  const fd = fs.openSync(logPath, "a");
  const full = useSetpriv ? ["/usr/bin/setpriv", "--pdeathsig", "KILL", "--", ...argv] : argv;
  const child = spawn(full[0], full.slice(1), { stdio: ["ignore", fd, fd] });
  fs.closeSync(fd);
  child.exitCode_ = null;
  child.on("exit", (code, sig) => {
    child.exitCode_ = code ?? 128 + (os.constants.signals[sig] || 0);
  });
  children.push(child);
  return child;
}

function killAll() {
  for (const c of children) if (c.exitCode_ === null) c.kill("SIGKILL");
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    killAll();
    process.exit(128 + os.constants.signals[sig]);
  });
}

async function stopChild(c, ms = 5000) {
  if (!c || c.exitCode_ !== null) return;
  const done = new Promise((r) => c.once("exit", r));
  c.kill("SIGTERM");
  const timer = setTimeout(() => c.kill("SIGKILL"), ms);
  await done;
  clearTimeout(timer);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitPort(port, child, what, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (child.exitCode_ !== null) return false;
    const up = await new Promise((r) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.destroy();
        r(true);
      });
      s.once("error", () => r(false));
    });
    if (up) return true;
    await sleep(20);
  }
  throw new Failure(`${what} is not listening on ${port} after ${ms} ms`);
}

function tail(file, bytes = 6000) {
  try {
    const b = fs.readFileSync(file);
    return b.subarray(Math.max(0, b.length - bytes)).toString();
  } catch (e) {
    return `(${e.message})`;
  }
}

// A static file server for dashboard/ (index.html, style.css, dist/).
function serveDashboard() {
  const types = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css" };
  const allowed = new Set(["/index.html", "/style.css", "/dist/bundle.js"]);
  const server = http.createServer((req, res) => {
    const p = new URL(req.url, "http://x").pathname;
    const file = p === "/" ? "/index.html" : p;
    if (!allowed.has(file)) {
      res.writeHead(404).end("not found");
      return;
    }
    fs.readFile(path.join(DASH, file), (err, data) => {
      if (err) res.writeHead(500).end(String(err));
      else res.writeHead(200, { "content-type": types[path.extname(file)], "cache-control": "no-store" }).end(data);
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

// ---- the test -----------------------------------------------------------------

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "nexc-dash-"));
const files = {
  natsConf: path.join(tmp, "nats.conf"),
  natsLog: path.join(tmp, "nats.log"),
  nodeConf: path.join(tmp, "node.json"),
  nodeLog: path.join(tmp, "node.log"),
  state: path.join(tmp, "state"),
  store: path.join(tmp, "js"),
  profile: path.join(tmp, "chromium-profile"),
};

let nats;
let node;
let nc;
let web;
let browser;
let page;
const pageErrors = [];

async function startNats() {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    let wsPort;
    do wsPort = await freePort();
    while (wsPort === port);
    fs.writeFileSync(
      files.natsConf,
      [
        `listen: "127.0.0.1:${port}"`,
        `jetstream { store_dir: ${JSON.stringify(files.store)} }`,
        `websocket { listen: "127.0.0.1:${wsPort}", no_tls: true }`,
        "",
      ].join("\n"),
    );
    const child = start(["nats-server", "-c", files.natsConf], files.natsLog);
    if ((await waitPort(port, child, "nats-server")) && (await waitPort(wsPort, child, "nats-server websocket"))) {
      return { child, port, wsPort };
    }
    // the ports were taken between the probe and the bind: try another pair
  }
  throw new Failure(`nats-server keeps exiting at start:\n${tail(files.natsLog)}`);
}

async function startNode(natsPort) {
  // require_bound_tokens: the page's tokens must name their request (as the packaged config wants).
  fs.writeFileSync(
    files.nodeConf,
    JSON.stringify({ machine_pool_size: 1, sandbox: "none", require_bound_tokens: true, metrics_interval_ms: METRICS_MS, logs: { stream: true },
                     deployments: { enabled: true, replicas: 1 } }),
  );
  fs.mkdirSync(files.state, { mode: 0o700 });
  const child = start(
    [NODE_BIN, "up", "--config", files.nodeConf, "--server", `nats://127.0.0.1:${natsPort}`, "--state-dir", files.state],
    files.nodeLog,
  );
  const end = Date.now() + 10000;
  while (Date.now() < end) {
    check(child.exitCode_ === null, `nexc-node exited (${child.exitCode_}) before answering PING:\n${tail(files.nodeLog)}`);
    try {
      const m = await nc.request("$NEX.PING", sc.encode(""), { timeout: 300 });
      const d = JSON.parse(sc.decode(m.data)).data;
      if (d && d.node_id) return { child, id: d.node_id };
    } catch {
      await sleep(100);
    }
  }
  throw new Failure(`nexc-node did not answer PING within 10 s:\n${tail(files.nodeLog)}`);
}

// Every message that crosses the server, to prove the seed never does.
function watchAll() {
  const all = { count: 0, leaks: [] };
  const sub = nc.subscribe(">");
  (async () => {
    for await (const m of sub) {
      all.count++;
      const text = Buffer.from(m.data).toString("latin1");
      for (const secret of all.secrets || []) {
        if (text.includes(secret) || m.subject.includes(secret)) all.leaks.push(m.subject);
      }
    }
  })();
  return all;
}

// Collect events seen over TCP, independently of the page.
function watchEvents() {
  const seen = [];
  const sub = nc.subscribe("$NEX.events.>");
  (async () => {
    for await (const m of sub) {
      try {
        seen.push({ subject: m.subject, ev: JSON.parse(sc.decode(m.data)) });
      } catch {
        // not ours to judge here
      }
    }
  })();
  return seen;
}

async function waitFor(fn, ms, what) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Failure(what);
    await sleep(50);
  }
}

// The points a chart's line draws: its path's M and L commands, and their
// coordinates.
async function chartLine(locator) {
  const d = (await locator.getAttribute("d")) || "";
  const xy = [...d.matchAll(/[ML](-?[\d.]+) (-?[\d.]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
  return { d, n: (d.match(/[ML]/g) || []).length, xy };
}

async function noObjectObject(what) {
  const [text, html] = await page.evaluate(() => [document.body.innerText, document.body.outerHTML]);
  check(!text.includes("[object Object]"), `"[object Object]" in the page text ${what}`);
  check(!html.includes("[object Object]"), `"[object Object]" in the page's HTML (a title?) ${what}`);
}

async function main() {
  check(fs.existsSync(NODE_BIN), `${NODE_BIN} is missing (build first)`);
  check(fs.existsSync(TICKER), `${TICKER} is missing (build first)`);
  check(fs.existsSync(path.join(DASH, "dist", "bundle.js")), "dashboard/dist/bundle.js is missing (scripts/dashboard-build)");
  fs.mkdirSync(OUT, { recursive: true });

  // Servers.
  nats = await startNats();
  nc = await connect({ servers: `nats://127.0.0.1:${nats.port}`, name: "nexc-dashboard-test" });
  const events = watchEvents();
  const traffic = watchAll();
  node = await startNode(nats.port);
  web = await serveDashboard();
  const pageUrl = `http://127.0.0.1:${web.address().port}/?ws=ws://127.0.0.1:${nats.wsPort}`;
  console.log(`# nats ${nats.port} (websocket ${nats.wsPort}), node ${node.id}, page ${pageUrl}`);

  // Browser: Debian's Chromium, a fresh profile, nothing fetched from outside.
  browser = await chromium.launchPersistentContext(files.profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1440, height: 1000 },
  });
  page = browser.pages()[0] || (await browser.newPage());
  page.on("pageerror", (e) => pageErrors.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") pageErrors.push(`console: ${m.text()}`);
  });
  await page.goto(pageUrl);

  // 1. The node is listed, with its tags and capacity.
  const card = page.locator(`article.node[data-node-id="${node.id}"]`);
  await card.waitFor({ timeout: 10000 });
  const cardText = await card.innerText();
  check(cardText.includes(node.id), "the node card shows the node id");
  check(cardText.includes("nex.os=linux"), `the node card shows the node's tags: ${cardText}`);
  check(/warm agents\s+\d+\/1/.test(cardText), `the node card shows the pool capacity: ${cardText}`);
  check(/memory free/.test(cardText), "the node card shows the memory");
  // INFO's nexc.sandbox is an object ({"tier":"none","unsafe":true} here)
  await waitFor(async () => /sandbox\s+none — unsafe/.test(await card.innerText()), 5000, `the node card does not read "sandbox none — unsafe": ${await card.innerText()}`);
  const sbTitle = await card.locator(".node-meta span.weak", { hasText: "sandbox" }).getAttribute("title");
  check(/^tier: none\nunsafe: on(\n|$)/.test(sbTitle || ""), `the sandbox's tooltip: ${JSON.stringify(sbTitle)}`);
  await noObjectObject("with the node listed");
  check((await page.locator("#status").innerText()).startsWith("connected"), "the page says it is connected");
  ok("the page lists the node with its id, tags, capacity and sandbox (in words)");

  // 2. Deploy the ticker from the page.
  const issuer = nkeys.createAccount();
  const issuerPub = issuer.getPublicKey();
  const seedText = new TextDecoder().decode(issuer.getSeed());
  traffic.secrets = [seedText, Buffer.from(seedText).toString("base64").slice(0, 40)];
  await page.fill("#d-seed", seedText);
  await page.fill("#d-name", "ticker");
  await page.setInputFiles("#d-file", TICKER);
  await page.fill("#d-env", "TICK_MS=200\n# a comment\nGREETING=hello");
  check((await page.locator("#d-issuer").innerText()).includes(issuerPub), "the page shows the issuer's public key");
  check((await page.locator("#d-seed").getAttribute("type")) === "password", "the seed field is a password field");
  await page.click("#d-submit");
  const result = page.locator("#d-result");
  await waitFor(async () => /started|\S/.test(await result.innerText()) && !(await result.getAttribute("class")).includes("busy"), 15000, "the deploy did not finish within 15 s");
  const resultText = await result.innerText();
  const m = /^started ticker · (\S+)$/.exec(resultText);
  check(m, `the deploy from the page succeeded: "${resultText}"`);
  const wid = m[1];
  const deployedAt = Date.now();
  ok(`deployed ticker from the page: ${wid}`);

  // The node agrees: workload_started for that id, the uploaded object and
  // the hash the node verified are the file's sha256.
  const sha = createHash("sha256").update(fs.readFileSync(TICKER)).digest("hex");
  await waitFor(() => events.find((e) => e.ev.type === "workload_started" && e.ev.source === wid), 5000, "no workload_started over TCP");
  const info = JSON.parse(sc.decode((await nc.request(`$NEX.INFO.default.${node.id}`, sc.encode(""), { timeout: 2000 })).data)).data;
  const machine = info.machines.find((w) => w.id === wid);
  check(machine && machine.workload.name === "ticker", "INFO lists the workload");
  check(machine.workload.hash === sha, `the node's hash ${machine.workload.hash} is the file's sha256 ${sha}`);
  const objInfo = await (await nc.jetstream().views.os("NEXCLIFILES")).info("ticker");
  check(objInfo && objInfo.size === fs.statSync(TICKER).size, "the page uploaded the file to NEXCLIFILES/ticker");
  ok("the node runs the artifact the page uploaded (INFO hash = sha256 of the file)");

  // A "tick" line in the log pane within 5 s.
  const tick = page.locator("#log-lines .line:not(.note)", { hasText: /tick \d+/ }).first();
  await tick.waitFor({ timeout: Math.max(100, LOG_WITHIN_MS - (Date.now() - deployedAt)) }).catch(() => {
    throw new Failure(`no "tick" line in the log pane within ${LOG_WITHIN_MS} ms of the deploy`);
  });
  ok(`"${(await tick.innerText()).replace(/\s+/g, " ")}" in the log pane ${Date.now() - deployedAt} ms after the deploy`);

  // The workload row, then a screenshot of the running state.
  const row = page.locator(`tr[data-workload-id="${wid}"]`);
  await row.waitFor({ timeout: 5000 });
  // (a refresh racing the deploy may list it before the node has its hash)
  await page
    .locator(`tr[data-workload-id="${wid}"] td[title="sha256 ${sha}"]`)
    .waitFor({ timeout: 5000 })
    .catch(async () => {
      throw new Failure(`the workload row does not show the hash ${sha}: ${await row.innerText()}`);
    });
  check((await row.innerText()).includes(sha.slice(0, 8)), "the workload row shows the hash");

  // Charts gain points as workload_metrics / node_metrics arrive.
  const lines = {
    workloads: card.locator('svg.chart[data-series="workloads"] path.line'),
    warm: card.locator('svg.chart[data-series="warm"] path.line'),
    cpu: row.locator('svg.chart[data-series="cpu"] path.line'),
    mem: row.locator('svg.chart[data-series="mem"] path.line'),
  };
  await waitFor(async () => (await chartLine(lines.cpu)).n >= 1 && (await chartLine(lines.mem)).n >= 1, 5000, "the workload's sparklines have no point 5 s after the deploy");
  const before = {};
  for (const [k, l] of Object.entries(lines)) before[k] = (await chartLine(l)).n;
  check(before.workloads >= 2, `the node chart has points before the deploy's (${before.workloads})`);
  await page.waitForTimeout(4 * METRICS_MS);
  const after = {};
  for (const [k, l] of Object.entries(lines)) after[k] = (await chartLine(l)).n;
  for (const k of Object.keys(lines)) check(after[k] > before[k], `the ${k} chart gained no point in ${4 * METRICS_MS} ms: ${before[k]} → ${after[k]}`);
  // The memory sparkline is drawn above its baseline (a running ticker has
  // resident memory); the deploy shows as a deploys/s point above zero.
  const base = Number(await row.locator('svg.chart[data-series="mem"]').getAttribute("height")) - 2;
  check((await chartLine(lines.mem)).xy.some(([, y]) => y < base - 1), "the memory sparkline lies flat on its baseline");
  const deploysLine = await chartLine(card.locator('svg.chart[data-series="deploys"] path.line'));
  const nodeBase = Number(await card.locator('svg.chart[data-series="deploys"]').getAttribute("height")) - 2;
  check(deploysLine.xy.some(([, y]) => y < nodeBase - 1), `no deploys/s point above zero after the deploy: ${deploysLine.d}`);
  check(/workloads\s+1\b/.test(await card.locator('figure[data-series="workloads"]').innerText()), "the workloads chart says 1");
  check(/\d+(\.\d)?%/.test(await row.locator('td.spark').first().innerText()), "the CPU cell shows a percentage");
  check(/[KMG]iB/.test(await row.locator('td.spark').nth(1).innerText()), "the memory cell shows bytes");
  await noObjectObject("with a workload running");
  const fits = await card.locator(".wl-table-wrap").evaluate((e) => [e.scrollWidth, e.clientWidth]);
  check(fits[0] <= fits[1], `the workload table (${fits[0]} px) overflows its card (${fits[1]} px) at 1440 px`);
  ok(`the charts gain points as metrics arrive (${METRICS_MS} ms): ${Object.keys(lines).map((k) => `${k} ${before[k]} → ${after[k]}`).join(", ")}`);

  // The node keeps a log stream (logs.stream): opening the pane again shows
  // the history from tick 1, then new ticks, each once.
  const tickNumbers = async () =>
    (await page.locator("#log-lines .line:not(.note)").allInnerTexts())
      .map((t) => /tick (\d+)/.exec(t))
      .filter(Boolean)
      .map((m) => Number(m[1]));
  const seenBefore = Math.max(0, ...(await tickNumbers()));
  await page.click(`button[data-action="logs"][data-id="${wid}"]`);
  await page.locator("#log-lines .line.note", { hasText: /of stream NEXC_LOGS/ }).waitFor({ timeout: 5000 }).catch(async () => {
    throw new Failure(`the log pane does not read the stream: ${await page.locator("#log-lines").innerText()}`);
  });
  await waitFor(async () => Math.max(0, ...(await tickNumbers())) > seenBefore + 2, 10000, "no new tick after the history");
  const replayed = await tickNumbers();
  check(replayed[0] === 1, `the history starts at tick ${replayed[0]}, not 1`);
  replayed.forEach((n, i) => check(n === i + 1, `tick ${n} at position ${i + 1}: a gap or a repeat at the seam (${replayed.join(",")})`));
  ok(`the log pane shows the stream's history (ticks 1..${seenBefore}) then new ticks up to ${replayed.at(-1)}, each once`);

  await page.screenshot({ path: path.join(OUT, "dashboard.png"), fullPage: true });
  await card.screenshot({ path: path.join(OUT, "dashboard-node.png") });
  ok(`workload row shown; screenshot ${path.join(OUT, "dashboard.png")}`);

  // 3. Stop from the page.
  const stopSeenBefore = events.length;
  await page.click(`button[data-action="stop"][data-id="${wid}"]`);
  await page
    .locator(`#event-list .ev[data-type="workload_stopped"][data-source="${wid}"]`)
    .waitFor({ timeout: STOP_EVENT_WITHIN_MS })
    .catch(() => {
      throw new Failure(`no workload_stopped for ${wid} in the page's event pane within ${STOP_EVENT_WITHIN_MS} ms`);
    });
  ok("workload_stopped shown in the page's event pane");
  const stopped = await waitFor(
    () => events.slice(stopSeenBefore).find((e) => e.ev.type === "workload_stopped" && e.ev.source === wid),
    STOP_EVENT_WITHIN_MS,
    "no workload_stopped over the test's own NATS subscription",
  );
  check(stopped.subject === "$NEX.events.default.workload_stopped", `subject ${stopped.subject}`);
  check(stopped.ev.data.workload_name === "ticker", "workload_stopped names the ticker");
  ok(`workload_stopped received over TCP: ${JSON.stringify(stopped.ev.data)}`);
  await waitFor(async () => /^stopped ticker/.test(await page.locator("#notice").innerText()), 5000, "the page did not report the stop");
  await row.waitFor({ state: "detached", timeout: 5000 });
  ok("the page reports the stop and the workload row is gone");

  await page.screenshot({ path: path.join(OUT, "dashboard-stopped.png"), fullPage: true });

  // 4. Deploy the object already in the store under another name.
  await page.check('input[name="d-src"][value="object"]');
  await page.fill("#d-name", "tickertwo");
  await page.fill("#d-key", "ticker");
  await page.fill("#d-env", "TICK_MS=300");
  await page.click("#d-submit");
  await waitFor(async () => /^(started|\S)/.test(await result.innerText()) && !(await result.getAttribute("class")).includes("busy") && (await result.innerText()) !== resultText, 15000, "the second deploy did not finish");
  const m2 = /^started tickertwo · (\S+)$/.exec(await result.innerText());
  check(m2, `the deploy of the existing object succeeded: "${await result.innerText()}"`);
  const wid2 = m2[1];
  const row2 = page.locator(`tr[data-workload-id="${wid2}"]`);
  await row2.waitFor({ timeout: 5000 });
  await page.locator("#log-lines .line:not(.note)", { hasText: /tick \d+/ }).first().waitFor({ timeout: LOG_WITHIN_MS });
  ok(`deployed the existing object NEXCLIFILES/ticker as tickertwo (${wid2}); its log follows`);

  // A stop signed by another issuer is refused in the page; the right one works.
  await page.click("#d-gen");
  check((await page.locator("#d-seed").inputValue()) !== seedText, "New issuer key replaced the seed");
  await page.click(`button[data-action="stop"][data-id="${wid2}"]`);
  await waitFor(async () => (await page.locator("#notice").getAttribute("class")).includes("err"), 5000, "no error for a stop with the wrong issuer");
  check(/was deployed by/.test(await page.locator("#notice").innerText()), "the page names the issuer mismatch");
  check(await row2.isVisible(), "the workload still runs after the refused stop");
  await page.fill("#d-seed", seedText);
  const before2 = events.length;
  await page.click(`button[data-action="stop"][data-id="${wid2}"]`);
  await waitFor(
    () => events.slice(before2).find((e) => e.ev.type === "workload_stopped" && e.ev.source === wid2),
    STOP_EVENT_WITHIN_MS,
    "no workload_stopped for the second workload",
  );
  await waitFor(async () => /^stopped tickertwo/.test(await page.locator("#notice").innerText()), 5000, "the page did not report the second stop");
  ok("a stop with the wrong issuer is refused in the page; with the deploying issuer it stops the workload");

  // 4b. A deployment applied with the CLI: the panel shows it, desired beside running.
  {
    const seedFile = path.join(tmp, "deploy-issuer.nk");
    fs.writeFileSync(seedFile, seedText, { mode: 0o600 });
    const specFile = path.join(tmp, "web.json");
    fs.writeFileSync(specFile, JSON.stringify({ name: "dashweb", replicas: 1, artifact: { file: path.join(BUILD, "examples", "ticker") } }));
    const r = spawnSync(path.join(BUILD, "api", "nexc"), ["--server", `nats://127.0.0.1:${nats.port}`, "apply", specFile, "--issuer", seedFile],
                        { encoding: "utf8", timeout: 20000, env: { ...process.env, HOME: tmp } });
    check(r.status === 0, `nexc apply failed (${r.status}): ${r.stderr}`);
    const depRow = page.locator('#deps-body tr[data-deployment="dashweb"]');
    await waitFor(async () => (await depRow.count()) === 1 && /^dashweb\s+1\s+1\s/.test(await depRow.innerText()), 20000,
                  `the deployments panel does not show dashweb 1/1: ${await page.locator("#deps-panel").innerText().catch(() => "")}`);
    check(await page.locator("#deps-panel").isVisible(), "the deployments panel is shown");
    ok("a deployment applied with nexc apply shows in the panel: desired 1, running 1, and where");
    const rm = spawnSync(path.join(BUILD, "api", "nexc"), ["--server", `nats://127.0.0.1:${nats.port}`, "deployments", "rm", "dashweb"],
                         { encoding: "utf8", timeout: 20000, env: { ...process.env, HOME: tmp } });
    check(rm.status === 0, `nexc deployments rm failed (${rm.status}): ${rm.stderr}`);
    await waitFor(async () => (await depRow.count()) === 0, 20000, "the removed deployment stays in the panel");
    ok("removed with nexc deployments rm, it leaves the panel");
  }

  // 5. The seed stayed in the page.
  await nc.flush();
  check(traffic.count > 20, `the test saw the traffic (${traffic.count} messages)`);
  check(traffic.leaks.length === 0, `the issuer seed crossed NATS on ${traffic.leaks.join(", ")}`);
  const stored = await page.evaluate(() => [localStorage.length, sessionStorage.length, document.cookie]);
  check(stored[0] === 0 && stored[1] === 0 && stored[2] === "", `the page stored something: ${JSON.stringify(stored)}`);
  ok(`the seed never crossed NATS (${traffic.count} messages checked); nothing stored in the browser`);

  check(pageErrors.length === 0, `errors in the page:\n${pageErrors.join("\n")}`);
  ok("no errors in the page's console");
}

let code = 0;
try {
  await main();
} catch (e) {
  failed++;
  code = 1;
  console.log(`not ok - ${e instanceof Failure ? e.message : e.stack || e}`);
  if (pageErrors.length) console.log(`# page errors:\n${pageErrors.join("\n")}`);
  if (page) {
    await page.screenshot({ path: path.join(OUT, "dashboard-failure.png"), fullPage: true }).catch(() => {});
    console.log(`# failure screenshot: ${path.join(OUT, "dashboard-failure.png")}`);
    const text = await page.locator("body").innerText().catch(() => "");
    console.log(`# page text:\n${text.slice(0, 4000)}`);
  }
  console.log(`# nexc-node log (tail):\n${tail(files.nodeLog)}`);
  console.log(`# nats-server log (tail):\n${tail(files.natsLog, 2000)}`);
} finally {
  await browser?.close().catch(() => {});
  await nc?.close().catch(() => {});
  web?.close();
  await stopChild(node?.child);
  await stopChild(nats?.child);
  if (!process.env.NEXC_IT_KEEP) fs.rmSync(tmp, { recursive: true, force: true });
  else console.log(`# kept ${tmp}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(code);
