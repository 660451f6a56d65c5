// chart.js: scales and SVG path data for the dashboard's sparklines and node
// charts, as plain strings and numbers (app.js puts them in <path d=…>).
// No DOM, no dependencies; tests/dashboard/test_view_lib.mjs checks it.
//
// x is time: the window [t0, t1] maps onto [0, width]. y is the value:
// [0, yMax] maps onto [height - pad, pad] (SVG's y grows downwards; pad
// keeps a line at 0 or at yMax from being cut in half by the edge).

/** The smallest of 1, 2, 2.5, 5 × 10^k that is >= v (and >= floor). */
export function niceCeil(v, floor = 0) {
  const x = Math.max(Number.isFinite(v) ? v : 0, floor);
  if (!(x > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) {
    // the 1e-9 absorbs 10 ** k's rounding (0.3 / 0.1 is 2.9999999999999996)
    if (x <= m * p * (1 + 1e-9)) return m * p;
  }
  return 10 * p;
}

/** The smallest power of two >= v (and >= floor): byte scales (1, 2, 4 … MiB). */
export function pow2Ceil(v, floor = 1) {
  const x = Math.max(Number.isFinite(v) ? v : 0, floor);
  if (!(x > 0)) return 1;
  return 2 ** Math.ceil(Math.log2(x) - 1e-12);
}

/** A linear map from [d0, d1] onto [r0, r1]; a degenerate domain maps to r0. */
export function linear(d0, d1, r0, r1) {
  const span = d1 - d0;
  return (x) => (span === 0 ? r0 : r0 + ((x - d0) / span) * (r1 - r0));
}

const num = (x) => {
  const r = Math.round(x * 10) / 10;
  return Object.is(r, -0) ? "0" : String(r);
};

/**
 * Screen coordinates of the points inside [t0, t1], cut into runs where two
 * neighbours are more than gapMs apart (a missed sample is a gap in the
 * line, not a straight bridge over it). Values are clamped to [0, yMax].
 * Returns [[[x, y], …], …].
 */
export function project(points, { t0, t1, width, height, yMax, pad = 1, gapMs = Infinity }) {
  const fx = linear(t0, t1, 0, width);
  const fy = linear(0, yMax > 0 ? yMax : 1, height - pad, pad);
  const runs = [];
  let run = null;
  let prevT = -Infinity;
  for (const [t, v] of points) {
    if (t < t0 || t > t1 || !Number.isFinite(v)) continue;
    if (!run || t - prevT > gapMs) {
      run = [];
      runs.push(run);
    }
    const y = fy(Math.min(Math.max(v, 0), yMax > 0 ? yMax : 1));
    run.push([fx(t), y]);
    prevT = t;
  }
  return runs;
}

/** SVG path data of the line: "M x y L x y …" per run; "" without points. */
export function linePath(points, opts) {
  return project(points, opts)
    .map((run) => run.map(([x, y], i) => `${i ? "L" : "M"}${num(x)} ${num(y)}`).join(""))
    .join("");
}

/** SVG path data of the area under the line, each run closed on the baseline. */
export function areaPath(points, opts) {
  const base = num(opts.height - (opts.pad ?? 1));
  return project(points, opts)
    .map((run) => {
      const line = run.map(([x, y]) => `L${num(x)} ${num(y)}`).join("");
      return `M${num(run[0][0])} ${base}${line}L${num(run[run.length - 1][0])} ${base}Z`;
    })
    .join("");
}

/** How many points a path from linePath draws (its M and L commands). */
export function pathPointCount(d) {
  return (String(d || "").match(/[ML]/g) || []).length;
}

/**
 * The span the x axis shows, given how long the page has been watching:
 * whole steps of stepMs, at least minMs, at most maxMs. A page that has
 * watched for 40 s draws its points over 1 minute rather than squeezed into
 * the right edge of 5, and the scale changes once a step, not at every point.
 */
export function windowSpan(elapsedMs, minMs, maxMs, stepMs = minMs) {
  const e = Number.isFinite(elapsedMs) && elapsedMs > 0 ? elapsedMs : 0;
  return Math.min(maxMs, Math.max(minMs, Math.ceil(e / stepMs) * stepMs));
}
