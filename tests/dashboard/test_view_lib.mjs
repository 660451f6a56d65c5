#!/usr/bin/env node
// The dashboard's view helpers in Node, no browser: dashboard/lib/series.js
// (the ring, the time window, counter rates, the bounded store),
// dashboard/lib/chart.js (scales, SVG path data, gaps) and
// dashboard/lib/sandbox.js (INFO's nexc.sandbox in words) and
// dashboard/lib/logs.js (the log stream from INFO, the history's bounds,
// repeats by Nexc-Seq).
import assert from "node:assert/strict";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const LIB = path.resolve(here, "..", "..", "dashboard", "lib");
const { Series, CounterRate, SeriesStore } = await import(path.join(LIB, "series.js"));
const chart = await import(path.join(LIB, "chart.js"));
const { sandboxText, sandboxDetails, sandboxWeak } = await import(path.join(LIB, "sandbox.js"));
const logs = await import(path.join(LIB, "logs.js"));

// ---- series ---------------------------------------------------------------

test("a series keeps at most capacity points, the newest, oldest first", () => {
  const s = new Series(4, 1e9);
  for (let i = 1; i <= 10; i++) s.push(i * 100, i);
  assert.equal(s.length, 4);
  assert.deepEqual(s.values(), [7, 8, 9, 10]);
  assert.deepEqual(s.times(), [700, 800, 900, 1000]);
  assert.ok(s.t.length <= 4, "the arrays never grow past the capacity");
  assert.equal(s.lastValue(), 10);
  assert.equal(s.lastTime(), 1000);
  assert.equal(s.max(), 10);
});

test("a series forgets what is older than its window", () => {
  const s = new Series(100, 1000);
  for (let t = 0; t <= 3000; t += 250) s.push(t, t);
  assert.deepEqual(s.times(), [2000, 2250, 2500, 2750, 3000]);
  s.prune(3600); // the page's clock moves on without new points
  assert.deepEqual(s.times(), [2750, 3000]);
  s.prune(10000);
  assert.equal(s.length, 0);
  assert.ok(Number.isNaN(s.lastValue()));
  s.push(10100, 7); // and starts again after emptying
  assert.deepEqual(s.points(), [[10100, 7]]);
});

test("a series wraps and grows without losing its order", () => {
  const s = new Series(8, 350);
  // prune while the arrays are not full, so that writes wrap, then grow again
  const seen = [];
  for (let t = 0; t < 2000; t += 50) {
    s.push(t, t / 50);
    seen.push(t);
    const want = seen.filter((x) => x >= t - 350).slice(-8);
    assert.deepEqual(s.times(), want, `at ${t}`);
  }
  assert.ok(s.t.length <= 8);
});

test("a series ignores time going back and non-numbers", () => {
  const s = new Series(10, 1e6);
  assert.equal(s.push(100, 1), true);
  assert.equal(s.push(50, 2), false);
  assert.equal(s.push(200, NaN), false);
  assert.equal(s.push(NaN, 3), false);
  assert.equal(s.push(200, Infinity), false);
  assert.equal(s.push(100, 4), true); // the same time is fine
  assert.deepEqual(s.values(), [1, 4]);
  assert.throws(() => new Series(0, 10), RangeError);
  assert.throws(() => new Series(10, 0), RangeError);
});

test("the step is the median time between recent points", () => {
  const s = new Series(100, 1e9);
  assert.ok(Number.isNaN(s.step()));
  s.push(0, 0);
  assert.ok(Number.isNaN(s.step()));
  for (const t of [500, 1000, 1500, 2000, 6000, 6500]) s.push(t, 0); // one late sample
  assert.equal(s.step(), 500);
  const e = new Series(10, 1e9);
  for (const t of [0, 100, 300, 600]) e.push(t, 0); // steps 100, 200, 300
  assert.equal(e.step(), 200);
  e.push(1000, 0); // 100, 200, 300, 400
  assert.equal(e.step(), 250);
});

test("a counter becomes a rate per second; a reset or a stalled clock gives no point", () => {
  const r = new CounterRate();
  assert.equal(r.next(0, 10), null, "the first sample has nothing to compare with");
  assert.equal(r.next(5000, 20), 2);
  assert.equal(r.next(10000, 20), 0);
  assert.equal(r.next(10000, 25), null, "no time passed");
  assert.equal(r.next(12000, 3), null, "the counter went back: the node restarted");
  assert.equal(r.next(14000, 7), 2, "and it counts again from there");
  assert.equal(r.next(15000, NaN), null);
});

test("the store is bounded and forgets idle groups", () => {
  let made = 0;
  const st = new SeriesStore(3, 1000, (k) => ({ k, n: ++made }));
  st.touch("a", 0);
  st.touch("b", 10);
  st.touch("c", 20);
  st.touch("a", 30); // a is now the most recent
  st.touch("d", 40); // over 3: b, touched longest ago, goes
  assert.deepEqual([...st.map.keys()], ["c", "a", "d"]);
  assert.equal(st.get("a").n, 1, "touching keeps the group");
  st.sweep(1025); // c was touched at 20
  assert.deepEqual([...st.map.keys()], ["a", "d"]);
  st.delete("a");
  assert.equal(st.size, 1);
  st.clear();
  assert.equal(st.size, 0);
});

// ---- chart ----------------------------------------------------------------

test("nice scale tops", () => {
  const cases = [
    [0, 1],
    [-3, 1],
    [NaN, 1],
    [0.3, 0.5],
    [0.07, 0.1],
    [1, 1],
    [1.01, 2],
    [2.2, 2.5],
    [3, 5],
    [7, 10],
    [10, 10],
    [11, 20],
    [240, 250],
    [251, 500],
  ];
  for (const [v, want] of cases) assert.equal(chart.niceCeil(v), want, `niceCeil(${v})`);
  assert.equal(chart.niceCeil(0.001, 0.05), 0.05, "the floor wins over a tiny value");
  assert.equal(chart.niceCeil(0.2, 0.05), 0.2);
  const MiB = 1 << 20;
  assert.equal(chart.pow2Ceil(0, MiB), MiB);
  assert.equal(chart.pow2Ceil(3 * MiB, MiB), 4 * MiB);
  assert.equal(chart.pow2Ceil(4 * MiB, MiB), 4 * MiB);
  assert.equal(chart.pow2Ceil(4 * MiB + 1, MiB), 8 * MiB);
});

test("linear maps, including a degenerate domain", () => {
  const f = chart.linear(0, 10, 100, 0);
  assert.equal(f(0), 100);
  assert.equal(f(10), 0);
  assert.equal(f(2.5), 75);
  assert.equal(chart.linear(5, 5, 3, 9)(5), 3);
});

const box = { t0: 0, t1: 1000, width: 100, height: 20, yMax: 10, pad: 0 };

test("the line path puts time on x and value on y (upwards)", () => {
  const d = chart.linePath(
    [
      [0, 0],
      [500, 5],
      [1000, 10],
    ],
    box,
  );
  assert.equal(d, "M0 20L50 10L100 0");
  assert.equal(chart.pathPointCount(d), 3);
  assert.equal(chart.linePath([], box), "");
  assert.equal(chart.pathPointCount(""), 0);
});

test("the line path clamps values and drops points outside the window", () => {
  const d = chart.linePath(
    [
      [-10, 3], // before t0
      [250, -4], // below 0
      [750, 99], // above yMax
      [1001, 3], // after t1
    ],
    box,
  );
  assert.equal(d, "M25 20L75 0");
});

test("a gap longer than gapMs starts a new run; the area closes each run on the baseline", () => {
  const pts = [
    [0, 2],
    [100, 4],
    [600, 6],
    [700, 8],
  ];
  const opts = { ...box, pad: 1, gapMs: 250 };
  assert.equal(chart.linePath(pts, opts), "M0 15.4L10 11.8M60 8.2L70 4.6");
  assert.equal(chart.areaPath(pts, opts), "M0 19L0 15.4L10 11.8L10 19ZM60 19L60 8.2L70 4.6L70 19Z");
  assert.equal(chart.pathPointCount(chart.linePath(pts, opts)), 4);
  assert.equal(chart.project(pts, opts).length, 2);
});

test("coordinates are rounded to a tenth", () => {
  const d = chart.linePath([[333, 3.333]], { ...box, t1: 999 });
  assert.equal(d, "M33.3 13.3");
});

// ---- sandbox --------------------------------------------------------------

// What node/sandbox/sandbox.c writes.
const PROCESS = {
  tier: "process",
  namespaces: ["pid", "mount", "ipc", "uts", "net"],
  network: "none",
  seccomp: true,
  no_new_privs: true,
  cgroup: "v2",
  cgroup_name: "nexc-NABC",
  limits: { memory_mib: 256, vcpus: 1.0, pids: 128, pids_by: "cgroup+rlimit", open_files: 1024, core_size: 0 },
  max_resources: { memory_mib: 2048, vcpus: 4.0, pids: 1024 },
  uid_range: { start: 100000, count: 1000, in_use: 2, available: 998, retired: 0 },
  oom_kills: 0,
  disabled: [],
};

test("the sandbox in words, never [object Object]", () => {
  assert.equal(sandboxText(PROCESS), "process (pid, mount, ipc, uts, net namespaces; seccomp; cgroup v2)");
  const partial = { ...PROCESS, namespaces: ["pid", "mount", "ipc", "uts"], network: "host", disabled: ["cgroup.cpu", "cgroup.pids"] };
  assert.equal(
    sandboxText(partial),
    "process (pid, mount, ipc, uts namespaces; host network; seccomp; cgroup v2; off: cgroup.cpu, cgroup.pids)",
  );
  assert.equal(sandboxText({ ...PROCESS, cgroup: "none", disabled: ["cgroup.memory"] }).includes("no cgroup; off: cgroup.memory"), true);
  assert.equal(sandboxText({ tier: "none", unsafe: true }), "none — unsafe");
  assert.equal(sandboxText({ tier: "none" }), "none — unsafe");
  assert.equal(sandboxText("none"), "none — unsafe", "older nodes send a string");
  assert.equal(sandboxText("process"), "process");
  assert.equal(sandboxText({ tier: "vm" }), "vm", "an unknown tier is named as it is");
  assert.equal(sandboxText({ tier: "vm", unsafe: true }), "vm — unsafe");
  assert.equal(sandboxText({}), "?");
  assert.equal(sandboxText(undefined), "?");
  assert.equal(sandboxText([1]), "?");
  assert.equal(sandboxText({ tier: "process", namespaces: "pid", disabled: { x: 1 } }), "process", "odd shapes are left out");
});

test("the sandbox's weak spots are flagged", () => {
  assert.equal(sandboxWeak(PROCESS), false);
  assert.equal(sandboxWeak({ ...PROCESS, disabled: ["cgroup.cpu"] }), true);
  assert.equal(sandboxWeak({ ...PROCESS, cgroup: "none" }), true);
  assert.equal(sandboxWeak({ tier: "none", unsafe: true }), true);
  assert.equal(sandboxWeak("none"), true);
  assert.equal(sandboxWeak("process"), false);
  assert.equal(sandboxWeak(null), false);
});

test("the sandbox's details: every field in words", () => {
  const d = sandboxDetails(PROCESS);
  assert.ok(!d.includes("[object Object]"), d);
  const lines = d.split("\n");
  assert.equal(lines[0], "tier: process");
  assert.ok(lines.includes("namespaces: pid, mount, ipc, uts, net"), d);
  assert.ok(lines.includes("seccomp: on"), d);
  assert.ok(lines.includes("default limits: memory 256 MiB, vcpus 1, pids 128, pids by cgroup+rlimit, open files 1024, core size 0"), d);
  assert.ok(lines.includes("uids: 100000–100999; in use 2, available 998, retired 0"), d);
  assert.ok(lines.includes("most a deploy may ask: memory 2048 MiB, vcpus 4, pids 1024"), d);
  assert.ok(lines.includes("off: none"), d);
  assert.equal(sandboxDetails({ tier: "none", unsafe: true }), "tier: none\nunsafe: on");
  assert.equal(sandboxDetails("process"), "tier: process");
  assert.equal(sandboxDetails(null), "");
  assert.ok(!sandboxDetails({ tier: "x", deep: { a: { b: [1, { c: 2 }] } } }).includes("[object Object]"));
});

test("the x span grows in whole steps from the minimum to the window", () => {
  const min = 60000;
  const max = 300000;
  assert.equal(chart.windowSpan(0, min, max), min);
  assert.equal(chart.windowSpan(-5, min, max), min);
  assert.equal(chart.windowSpan(NaN, min, max), min);
  assert.equal(chart.windowSpan(40000, min, max), min);
  assert.equal(chart.windowSpan(60000, min, max), min);
  assert.equal(chart.windowSpan(60001, min, max), 120000);
  assert.equal(chart.windowSpan(250000, min, max), max);
  assert.equal(chart.windowSpan(9e9, min, max), max);
  assert.equal(chart.windowSpan(31000, 30000, max, 30000), 60000);
});

// ---- logs -----------------------------------------------------------------

test("the log stream comes from INFO only when the node found or made it", () => {
  const info = (stream) => ({ nexc: { logs: { stream } } });
  assert.equal(logs.logStreamOf(info({ name: "NEXC_LOGS", state: "created" })), "NEXC_LOGS");
  assert.equal(logs.logStreamOf(info({ name: "APP", state: "exists" })), "APP");
  assert.equal(logs.logStreamOf(info({ name: "APP", state: "differs" })), "APP");
  for (const state of ["pending", "unavailable", "refused", undefined]) {
    assert.equal(logs.logStreamOf(info({ name: "NEXC_LOGS", state })), null, String(state));
  }
  assert.equal(logs.logStreamOf(info(null)), null);
  assert.equal(logs.logStreamOf({}), null);
  assert.equal(logs.logStreamOf(undefined), null);
  assert.equal(logs.logStreamOf(info({ name: "a.b", state: "created" })), null, "not a stream name");
  assert.equal(logs.logStreamOf(info({ name: 7, state: "created" })), null);
});

test("the history: subject, start time, at most the last 500 lines", () => {
  assert.equal(logs.logSubject("default", "N1", "ticker", "abc"), "$NEX.logs.default.N1.ticker.abc");
  assert.equal(logs.logSubject("default", "N1", "ticker", null), "$NEX.logs.default.N1.ticker.*");
  assert.equal(logs.historyStart(Date.UTC(2026, 0, 1, 12, 10), 10 * 60 * 1000), "2026-01-01T12:00:00.000Z");
  assert.equal(logs.HISTORY_MS, 600000);
  assert.equal(logs.showHistoryLine(10000), false);
  assert.equal(logs.showHistoryLine(500), false);
  assert.equal(logs.showHistoryLine(499), true);
  assert.equal(logs.showHistoryLine(0), true);
  assert.equal(logs.showHistoryLine(undefined), true, "a live message has no pending count");
});

test("repeats by Nexc-Seq are dropped per workload id, drop records by their range", () => {
  const d = new logs.LogDedup(2);
  assert.equal(d.accept("a", 1), true);
  assert.equal(d.accept("a", 2), true);
  assert.equal(d.accept("a", 2), false, "the same line again");
  assert.equal(d.accept("a", 1), false, "an older line again (a republished batch)");
  assert.equal(d.accept("b", 1), true, "another id has its own numbers");
  assert.equal(d.accept("a", 3), true);
  assert.equal(d.accept("a", 0), true, "no number: shown");
  assert.equal(d.accept("a", 0, "4-9"), true);
  assert.equal(d.accept("a", 0, "4-9"), false, "the same drop record again");
  assert.equal(d.accept("a", 0, "5-8"), false);
  assert.equal(d.accept("a", 0, "10-12"), true);
  assert.equal(d.accept("a", 0, "junk"), true, "a malformed range is not judged");
  assert.equal(d.repeats, 4);
  // bounded: a third id makes the least recently seen forget its numbers
  d.accept("c", 5);
  assert.equal(d.ids.size, 2);
  assert.equal(d.accept("b", 1), true, "b was forgotten");
  assert.deepEqual(logs.parseDropped("3-7"), [3, 7]);
  assert.equal(logs.parseDropped("7-3"), null);
  assert.equal(logs.parseDropped("0-3"), null);
  assert.equal(logs.parseDropped("3-"), null);
});

// ---- deployments ----------------------------------------------------------

const deps = await import(path.join(LIB, "deployments.js"));

test("a stored deployment value gives its namespace, name and replicas; anything else null", () => {
  const v = JSON.stringify({ spec: { name: "web", namespace: "shop", replicas: 3 }, jwt: "a.b.c" });
  assert.deepEqual(deps.parseStoredSpec(v), { ns: "shop", name: "web", replicas: 3 });
  assert.deepEqual(deps.parseStoredSpec(JSON.stringify({ spec: { name: "w", replicas: 0 } })),
                   { ns: "default", name: "w", replicas: 0 });
  for (const bad of ["", "nope", "null", "[]", '{"spec":1}', '{"spec":{"name":"w"}}',
                     '{"spec":{"name":"w","replicas":-1}}', '{"spec":{"name":"w","replicas":1.5}}',
                     '{"spec":{"replicas":2}}'])
    assert.equal(deps.parseStoredSpec(bad), null, bad);
});

test("slot keys parse strictly", () => {
  assert.deepEqual(deps.parseSlotKey("slot.default.web.2"), { ns: "default", name: "web", slot: 2 });
  for (const bad of ["slot.default.web", "node.N1", "upd.default.web.0", "slot.a.b.c", "slot.a b.c.1", 7])
    assert.equal(deps.parseSlotKey(bad), null, String(bad));
});

test("deployment rows: desired beside running, where, and slots held past their spec", () => {
  const specs = [
    { ns: "default", name: "web", replicas: 3 },
    { ns: "default", name: "api", replicas: 2 },
    { ns: "other", name: "web", replicas: 9 },
  ];
  const nodes = [
    { id: "N1", label: "n1", held: ["slot.default.web.0", "slot.default.api.1", "slot.default.old.0"] },
    { id: "N2", label: "n2", held: ["slot.default.web.2", "slot.default.web.1", "garbage"] },
    { id: "N3", label: "n3", held: [] },
  ];
  const rows = deps.deploymentRows(specs, nodes, "default");
  assert.deepEqual(rows.map((r) => [r.name, r.desired, r.running, r.state]),
                   [["api", 2, 1, "short"], ["old", 0, 1, "over"], ["web", 3, 3, "ok"]]);
  assert.equal(rows[2].where, "n1: 0; n2: 1,2");
  assert.equal(rows[1].asked, false, "a slot still held for a removed deployment is shown as not asked");
  assert.equal(deps.deploymentRows(specs, nodes, "nowhere").length, 0);
});

test("deployments are on when any node's INFO says so", () => {
  assert.equal(deps.deploymentsEnabled([{ nexc: { deployments: { enabled: false } } }, {}]), false);
  assert.equal(deps.deploymentsEnabled([null, { nexc: { deployments: { enabled: true } } }]), true);
});
