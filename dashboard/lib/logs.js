// The log pane's pure rules (no DOM, no NATS), shared by app.js and the
// view tests: which stream holds a node's log history (from its INFO),
// where that history starts, how much of it is shown, and which lines are
// repeats. The node publishes at least once: after its restart an agent
// sends again the lines no flush confirmed, with the same Nexc-Seq, and a
// stream keeps both copies; drop records (header Nexc-Dropped: FIRST-LAST)
// can repeat too.

export const HISTORY_MS = 10 * 60 * 1000; // the history shown: the last 10 minutes…
export const HISTORY_LINES = 500; //          …and of those at most the last 500 lines
const STREAM_STATES = new Set(["created", "exists", "differs"]);

// The stream named in INFO's nexc.logs.stream when the node found or made
// it, else null (no stream configured, JetStream away, refused).
export function logStreamOf(info) {
  const st = info?.nexc?.logs?.stream;
  if (!st || typeof st.name !== "string" || !STREAM_STATES.has(st.state)) return null;
  return /^[A-Za-z0-9_-]{1,64}$/.test(st.name) ? st.name : null;
}

// The subject of one workload's lines (id null or "": any run of the name).
export function logSubject(ns, node, name, id) {
  return `$NEX.logs.${ns}.${node}.${name}.${id || "*"}`;
}

// JetStream's opt_start_time for a history of windowMs before nowMs.
export function historyStart(nowMs, windowMs = HISTORY_MS) {
  return new Date(nowMs - windowMs).toISOString();
}

// While the consumer catches up, pending is how many stored lines are still
// to come: a line is shown once fewer than max remain after it.
export function showHistoryLine(pending, max = HISTORY_LINES) {
  return !(pending >= max);
}

// "FIRST-LAST" → [first, last], or null.
export function parseDropped(v) {
  const m = /^([0-9]{1,19})-([0-9]{1,19})$/.exec(String(v ?? ""));
  if (!m) return null;
  const a = Number(m[1]);
  const b = Number(m[2]);
  return a >= 1 && b >= a ? [a, b] : null;
}

// Repeats by workload id: a line whose Nexc-Seq is not above the highest
// seen for its id, or a drop record ending at or before the last one seen.
// At most maxIds ids are remembered (the least recently seen goes).
export class LogDedup {
  constructor(maxIds = 256) {
    this.maxIds = maxIds;
    this.ids = new Map(); // id → {seq, droppedTo}; Map order = recency
    this.repeats = 0;
  }

  // True when the line is new (and remembered as seen).
  accept(id, seq, dropped) {
    let e = this.ids.get(id);
    if (e) this.ids.delete(id);
    else e = { seq: 0, droppedTo: 0 };
    this.ids.set(id, e);
    while (this.ids.size > this.maxIds) this.ids.delete(this.ids.keys().next().value);
    const range = dropped ? parseDropped(dropped) : null;
    if (range) {
      if (range[1] <= e.droppedTo) return this.repeat();
      e.droppedTo = range[1];
      return true;
    }
    if (!seq) return true; // nothing to compare
    if (seq <= e.seq) return this.repeat();
    e.seq = seq;
    return true;
  }

  repeat() {
    this.repeats++;
    return false;
  }
}
