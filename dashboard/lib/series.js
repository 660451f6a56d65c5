// series.js: the dashboard's time series, bounded twice: a ring of at most
// `capacity` points, and nothing older than `windowMs` behind the newest
// time the caller names. No DOM, no NATS: app.js feeds it from
// workload_metrics / node_metrics events, lib/chart.js draws it, and
// tests/dashboard/test_view_lib.mjs checks it in Node.

/** A ring of (time ms, value) points, oldest first. */
export class Series {
  constructor(capacity, windowMs) {
    if (!(capacity >= 1) || !(windowMs > 0)) throw new RangeError("Series needs capacity >= 1 and windowMs > 0");
    this.capacity = Math.floor(capacity);
    this.windowMs = windowMs;
    this.t = []; // grows to capacity, then wraps
    this.v = [];
    this.head = 0; // index of the oldest point
    this.length = 0;
  }

  /** Adds a point; a time before the newest one, or a non-finite number, is ignored. */
  push(t, v) {
    if (!Number.isFinite(t) || !Number.isFinite(v)) return false;
    if (this.length && t < this.lastTime()) return false;
    if (this.length === this.t.length && this.t.length < this.capacity) {
      // full but allowed to grow: lay the ring out straight, then append
      this.t = this.times();
      this.v = this.values();
      this.head = 0;
      this.t.push(t);
      this.v.push(v);
      this.length++;
    } else if (this.length === this.capacity) {
      // full: the oldest point makes room
      this.t[this.head] = t;
      this.v[this.head] = v;
      this.head = (this.head + 1) % this.capacity;
    } else {
      const i = (this.head + this.length) % this.t.length;
      this.t[i] = t;
      this.v[i] = v;
      this.length++;
    }
    this.prune(t);
    return true;
  }

  /** Forgets the points older than now - windowMs. */
  prune(now) {
    const oldest = now - this.windowMs;
    while (this.length && this.t[this.head] < oldest) {
      this.head = (this.head + 1) % this.t.length;
      this.length--;
    }
    if (this.length === 0) this.head = 0;
  }

  index(i) {
    return (this.head + i) % this.t.length;
  }

  times() {
    const out = new Array(this.length);
    for (let i = 0; i < this.length; i++) out[i] = this.t[this.index(i)];
    return out;
  }

  values() {
    const out = new Array(this.length);
    for (let i = 0; i < this.length; i++) out[i] = this.v[this.index(i)];
    return out;
  }

  /** [[t, v], …], oldest first. */
  points() {
    const out = new Array(this.length);
    for (let i = 0; i < this.length; i++) {
      const k = this.index(i);
      out[i] = [this.t[k], this.v[k]];
    }
    return out;
  }

  lastTime() {
    return this.length ? this.t[this.index(this.length - 1)] : NaN;
  }

  lastValue() {
    return this.length ? this.v[this.index(this.length - 1)] : NaN;
  }

  max() {
    let m = -Infinity;
    for (let i = 0; i < this.length; i++) m = Math.max(m, this.v[this.index(i)]);
    return m;
  }

  /** The usual time between points: the median of the last (up to) 16 steps; NaN below 2 points. */
  step() {
    const n = Math.min(this.length - 1, 16);
    if (n < 1) return NaN;
    const d = [];
    for (let i = this.length - n; i < this.length; i++) d.push(this.t[this.index(i)] - this.t[this.index(i - 1)]);
    d.sort((a, b) => a - b);
    return n % 2 ? d[(n - 1) / 2] : (d[n / 2 - 1] + d[n / 2]) / 2;
  }
}

/**
 * Turns a counter that only grows (node_metrics' deploys) into a rate per
 * second. The first sample, a counter that went back (the node restarted)
 * and a time that did not advance give null: no point rather than a wrong one.
 */
export class CounterRate {
  constructor() {
    this.prev = null;
  }

  next(t, count) {
    if (!Number.isFinite(t) || !Number.isFinite(count)) return null;
    const p = this.prev;
    if (p && t <= p.t) return null;
    this.prev = { t, count };
    if (!p || count < p.count) return null;
    return ((count - p.count) * 1000) / (t - p.t);
  }
}

/**
 * A Map used as a bounded store of series groups: adding past `max` forgets
 * the group touched longest ago, and sweep() drops groups not touched for
 * `idleMs` (workloads and nodes that are gone). Returns the group for key,
 * creating it with make() when missing.
 */
export class SeriesStore {
  constructor(max, idleMs, make) {
    this.max = max;
    this.idleMs = idleMs;
    this.make = make;
    this.map = new Map();
  }

  touch(key, now) {
    let g = this.map.get(key);
    if (g) this.map.delete(key); // re-insert: Map order is the touch order
    else g = this.make(key);
    g.touched = now;
    this.map.set(key, g);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value);
    return g;
  }

  get(key) {
    return this.map.get(key);
  }

  delete(key) {
    return this.map.delete(key);
  }

  clear() {
    this.map.clear();
  }

  get size() {
    return this.map.size;
  }

  sweep(now) {
    for (const [k, g] of this.map) if (now - g.touched > this.idleMs) this.map.delete(k);
  }
}
