// Declarative deployments as the dashboard shows them: what the KV bucket
// NEXC_DEPLOYMENTS asks for (each value {"spec": {...}, "jwt": "..."}, the
// spec signed by an issuer the nodes allow: ARCHITECTURE.md, "Deployments")
// beside what the nodes say they run (INFO nexc.deployments.held: the slot
// keys "slot.{ns}.{name}.{slot}" each node holds). Pure functions: app.js
// reads the bucket and the INFOs, these put them side by side.

export const DEPLOYMENTS_BUCKET = "NEXC_DEPLOYMENTS";

// A stored value (text) → {ns, name, replicas}, or null when it is not a
// deployment spec (a tombstone, garbage: every node ignores those too).
// The signature is the nodes' business: the dashboard shows what is asked,
// and "running" says what the nodes made of it.
export function parseStoredSpec(text) {
  let v;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  const s = v && typeof v === "object" ? v.spec : null;
  if (!s || typeof s !== "object") return null;
  const name = typeof s.name === "string" ? s.name : null;
  const ns = typeof s.namespace === "string" && s.namespace ? s.namespace : "default";
  const replicas = Number.isInteger(s.replicas) && s.replicas >= 0 ? s.replicas : null;
  if (!name || replicas === null) return null;
  return { ns, name, replicas };
}

// "slot.{ns}.{name}.{slot}" → {ns, name, slot}, or null.
export function parseSlotKey(key) {
  if (typeof key !== "string") return null;
  const m = /^slot\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)\.(\d+)$/.exec(key);
  return m ? { ns: m[1], name: m[2], slot: Number(m[3]) } : null;
}

// specs: [{ns, name, replicas}]; nodes: [{id, label, held: [slot keys]}].
// One row per deployment of namespace ns, sorted by name: desired, running
// (slots held by a node that answered), where (node label → slots).
// Slots held for a deployment that is no longer asked for show too, with
// desired 0, so a node that has not let go yet is visible.
export function deploymentRows(specs, nodes, ns) {
  const rows = new Map();
  const row = (name) => {
    let r = rows.get(name);
    if (!r) {
      r = { name, desired: 0, running: 0, where: new Map(), asked: false };
      rows.set(name, r);
    }
    return r;
  };
  for (const s of specs) {
    if (s.ns !== ns) continue;
    const r = row(s.name);
    r.desired = s.replicas;
    r.asked = true;
  }
  for (const n of nodes) {
    for (const key of n.held || []) {
      const k = parseSlotKey(key);
      if (!k || k.ns !== ns) continue;
      const r = row(k.name);
      r.running++;
      const slots = r.where.get(n.label) || [];
      slots.push(k.slot);
      r.where.set(n.label, slots);
    }
  }
  return [...rows.values()]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((r) => ({
      name: r.name,
      desired: r.desired,
      running: r.running,
      asked: r.asked,
      state: r.running === r.desired ? "ok" : r.running < r.desired ? "short" : "over",
      where: [...r.where.entries()]
        .sort((a, b) => (a[0] < b[0] ? -1 : 1))
        .map(([label, slots]) => `${label}: ${slots.sort((x, y) => x - y).join(",")}`)
        .join("; "),
    }));
}

// Whether any node runs the deployments part (INFO nexc.deployments.enabled).
export function deploymentsEnabled(infos) {
  return infos.some((i) => i?.nexc?.deployments?.enabled === true);
}
