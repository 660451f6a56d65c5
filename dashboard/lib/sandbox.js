// sandbox.js: INFO's nexc.sandbox in words. nexc nodes report an object
// (node/sandbox/sandbox.c, sandbox_write_info):
//   {"tier":"none","unsafe":true}
//   {"tier":"process","namespaces":["pid","mount","ipc","uts","net"],
//    "network":"none","seccomp":true,"no_new_privs":true,"cgroup":"v2",
//    "cgroup_name":…,"limits":{…},"max_resources":{…},"uid_range":{…},
//    "oom_kills":0,"disabled":["cgroup.cpu"]}
// older nodes a plain string ("process" / "none"). No DOM; tested in
// tests/dashboard/test_view_lib.mjs.

const isObj = (x) => x !== null && typeof x === "object" && !Array.isArray(x);
const list = (a) => (Array.isArray(a) ? a.filter((x) => typeof x === "string" && x) : []);

/** One line for the node card, e.g. "process (pid, mount, ipc, uts, net namespaces; seccomp; cgroup v2; off: cgroup.cpu)". */
export function sandboxText(sb) {
  if (typeof sb === "string") return sb === "none" ? "none — unsafe" : sb || "?";
  if (!isObj(sb)) return "?";
  const tier = typeof sb.tier === "string" && sb.tier ? sb.tier : "?";
  if (tier === "none") return sb.unsafe === false ? "none" : "none — unsafe";
  const parts = [];
  const ns = list(sb.namespaces);
  if (ns.length) parts.push(`${ns.join(", ")} namespace${ns.length === 1 ? "" : "s"}`);
  if (sb.network === "host") parts.push("host network");
  if (sb.seccomp === true) parts.push("seccomp");
  else if (sb.seccomp === false) parts.push("no seccomp");
  if (typeof sb.cgroup === "string") parts.push(sb.cgroup === "none" ? "no cgroup" : `cgroup ${sb.cgroup}`);
  const off = list(sb.disabled);
  if (off.length) parts.push(`off: ${off.join(", ")}`);
  let text = parts.length ? `${tier} (${parts.join("; ")})` : tier;
  if (sb.unsafe === true) text += " — unsafe";
  return text;
}

/** Whether the card should flag it: no isolation, or a part of it off. */
export function sandboxWeak(sb) {
  if (typeof sb === "string") return sb === "none";
  if (!isObj(sb)) return false;
  return sb.tier === "none" || sb.unsafe === true || list(sb.disabled).length > 0 || sb.cgroup === "none";
}

const words = (k) => k.replace(/_/g, " ");

function value(v) {
  if (typeof v === "boolean") return v ? "on" : "off";
  if (Array.isArray(v)) return v.map(value).join(", ") || "none";
  if (isObj(v)) {
    return (
      Object.entries(v)
        .map(([k, x]) => (/_mib$/.test(k) ? `${words(k.slice(0, -4))} ${value(x)} MiB` : `${words(k)} ${value(x)}`))
        .join(", ") || "none"
    );
  }
  return String(v);
}

const LABELS = {
  tier: "tier",
  namespaces: "namespaces",
  network: "network",
  seccomp: "seccomp",
  no_new_privs: "no_new_privs",
  cgroup: "cgroup",
  cgroup_name: "cgroup name",
  limits: "default limits",
  max_resources: "most a deploy may ask",
  uid_range: "uids",
  oom_kills: "OOM kills",
  disabled: "off",
  unsafe: "unsafe",
};

/** Every field, one "label: value" line each (the node card's tooltip). */
export function sandboxDetails(sb) {
  if (typeof sb === "string") return `tier: ${sb}`;
  if (!isObj(sb)) return "";
  const lines = [];
  for (const [k, v] of Object.entries(sb)) {
    if (k === "uid_range" && isObj(v) && Number.isFinite(v.start) && v.count > 0) {
      const rest = Object.entries(v).filter(([x]) => x !== "start" && x !== "count");
      const extra = rest.length ? `; ${rest.map(([x, y]) => `${words(x)} ${value(y)}`).join(", ")}` : "";
      lines.push(`uids: ${v.start}–${v.start + v.count - 1}${extra}`);
    } else {
      lines.push(`${LABELS[k] || words(k)}: ${value(v)}`);
    }
  }
  return lines.join("\n");
}
