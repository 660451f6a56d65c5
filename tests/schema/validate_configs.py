#!/usr/bin/env python3
"""Check that the node configuration schema, the example configs and the
loader (node/core/config*.c) agree.

usage: validate_configs.py SOURCE_DIR BUILD_DIR

1. schemas/node-config.schema.json is a valid JSON Schema.
2. Every examples/nodeconfigs/*.json validates against it, and
   `BUILD_DIR/node/nexc-node check-config FILE` accepts it (exit 0, the
   effective configuration on stdout as JSON).
3. The schema documents every key node/core/config*.c accepts, with the ranges
   of its config_int_keys, parse_template and parse_limits, and every
   Firecracker/Nex-only key of its firecracker_keys; and it documents no key
   the loader does not know.
4. A few invalid configs are refused by both the schema and check-config.

Needs python3-jsonschema; without it the script exits 77 (ctest: skipped).
Uses the standard library otherwise."""

import glob
import json
import os
import re
import subprocess
import sys
import tempfile

SKIP = 77
INT64_MAX = 2**63 - 1

try:
    import jsonschema
except ImportError:
    print("validate_configs: python3-jsonschema is not installed "
          "(apt-get install python3-jsonschema); skipping")
    sys.exit(SKIP)

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg)


def no_duplicates(pairs):
    """object_pairs_hook: the loader refuses duplicate keys, so do we."""
    seen = {}
    for k, v in pairs:
        if k in seen:
            raise ValueError("duplicate key %r" % k)
        seen[k] = v
    return seen


def load_json(path):
    with open(path, "rb") as f:
        return json.loads(f.read().decode("utf-8"), object_pairs_hook=no_duplicates)


def check_config(nexc_node, path):
    """Run check-config on a 0600 copy of path, as an operator installs a
    config (one holding autostart environment values must not be readable by
    others); return (exit code, stdout, stderr)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, os.path.basename(path))
        with open(path, "rb") as src, os.fdopen(os.open(copy, os.O_WRONLY | os.O_CREAT, 0o600),
                                                "wb") as dst:
            dst.write(src.read())
        p = subprocess.run([nexc_node, "check-config", copy], capture_output=True,
                           timeout=30)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


# ---- what node/core/config*.c accepts, read from its source ----

def c_int(text):
    text = text.strip()
    if text == "INT64_MAX":
        return INT64_MAX
    if text == "1 << 24":
        return 1 << 24
    return int(text)


def loader_facts(config_dir):
    """Keys, integer ranges and Firecracker keys as written in the loader's
    sources: every config*.c of config_dir (config.c parses, config_dump.c
    writes back), read as one text so a table may live in either file."""
    paths = sorted(glob.glob(os.path.join(config_dir, "config*.c")))
    if not paths:
        fail("no config*.c in %s" % config_dir)
    src = "\n".join(open(p, encoding="utf-8").read() for p in paths)
    where = os.path.join(config_dir, "config*.c")
    facts = {"ints": {}, "keys": set(), "firecracker": set(), "defaults": {}}
    for name, lo, hi in re.findall(r"IK \((\w+),\s*([^,]+),\s*([^)]+)\)", src):
        facts["ints"][name] = (c_int(lo), c_int(hi))
    # Nested integers: get_int (e, "machine_template.vcpu_count", 1, 1024, ...)
    for name, lo, hi in re.findall(r'get_int \(e, "([\w.]+)",\s*([^,]+),\s*([^,]+),', src):
        facts["ints"][name] = (c_int(lo), c_int(hi))
    # parse_limits builds its key names: "node_limits.%s" with 0..INT64_MAX.
    for name in re.findall(r'strcmp \(k, "(max_\w+)"\) == 0\)\s*\n\s*dst =', src):
        facts["ints"]["node_limits." + name] = (0, INT64_MAX)
    body = re.search(r"\nparse_key \(.*?\n}\n", src, re.S)
    if body is None:
        fail("cannot find parse_key in %s" % where)
        return facts
    facts["keys"] = set(re.findall(r'strcmp \(k, "(\w+)"\) == 0', body.group(0)))
    facts["keys"] |= set(facts["ints"])  # int_keys are matched in a loop
    facts["keys"] = {k for k in facts["keys"] if "." not in k}
    # Integer defaults: "cfg->name = <arithmetic>;" in config_defaults.
    facts["defaults"] = {}
    defaults = re.search(r"\nconfig_defaults \(.*?\n}\n", src, re.S)
    for name, expr in re.findall(r"cfg->(\w+) = ([0-9][0-9a-z *]*);",
                                 defaults.group(0) if defaults else ""):
        expr = re.sub(r"(\d+)[lLuU]+", r"\1", expr)
        if re.fullmatch(r"[0-9 *]+", expr):
            value = 1
            for factor in expr.split("*"):
                value *= int(factor)
            facts["defaults"][name] = value
    # The sandbox tier's default: "cfg->sandbox = SANDBOX_PROCESS;".
    tier = re.search(r"cfg->sandbox = SANDBOX_(\w+);", defaults.group(0) if defaults else "")
    if tier:
        facts["sandbox_default"] = tier.group(1).lower()
    fc = re.search(r"firecracker_keys\[\]\s*=\s*\{(.*?)\}", src, re.S)
    if fc:
        facts["firecracker"] = set(re.findall(r'"(\w+)"', fc.group(1)))
    else:
        fail("cannot find firecracker_keys in %s" % where)
    return facts


def resolve(schema, node):
    """Follow one local $ref, merging the referring node's own keywords."""
    ref = node.get("$ref")
    if not ref:
        return node
    target = schema
    for part in ref.lstrip("#/").split("/"):
        target = target[part]
    merged = dict(target)
    merged.update({k: v for k, v in node.items() if k != "$ref"})
    return merged


def schema_node(schema, dotted):
    node = schema
    for part in dotted.split("."):
        node = resolve(schema, node).get("properties", {}).get(part)
        if node is None:
            return None
    return resolve(schema, node)


def check_schema_mirrors_loader(schema, facts):
    props = schema["properties"]
    for name, (lo, hi) in sorted(facts["ints"].items()):
        node = schema_node(schema, name)
        if node is None:
            fail("schema: %s (an integer key of config.c) is not documented" % name)
            continue
        if node.get("type") != "integer":
            fail("schema: %s should have type integer" % name)
        if node.get("minimum") != lo or node.get("maximum") != hi:
            fail("schema: %s range [%s, %s] differs from config.c [%d, %d]"
                 % (name, node.get("minimum"), node.get("maximum"), lo, hi))
        if "description" not in node:
            fail("schema: %s has no description" % name)
    # config.c field names that differ from the key path in the file.
    field_keys = {"vcpu_count": "machine_template.vcpu_count",
                  "memsize_mib": "machine_template.memsize_mib",
                  "uid_start": "uid_range.start", "uid_count": "uid_range.count"}
    for name, value in sorted(facts["defaults"].items()):
        node = schema_node(schema, field_keys.get(name, name))
        if node is not None and node.get("default") != value:
            fail("schema: default of %s is %r, config.c says %d" % (name, node.get("default"), value))
    if "sandbox_default" in facts and props["sandbox"].get("default") != facts["sandbox_default"]:
        fail("schema: default of sandbox is %r, config.c says %r"
             % (props["sandbox"].get("default"), facts["sandbox_default"]))
    for key in sorted(facts["keys"]):
        if key not in props:
            fail("schema: key %s (accepted by config.c) is not documented" % key)
        elif "description" not in props[key]:
            fail("schema: key %s has no description" % key)
    for key in sorted(facts["firecracker"]):
        node = props.get(key)
        if node is None:
            fail("schema: Firecracker/Nex key %s is not documented" % key)
        elif node.get("$ref") != "#/$defs/firecracker" or "warning" not in node.get("description", ""):
            fail("schema: Firecracker/Nex key %s should be described as accepted with a warning" % key)
    for key in sorted(props):
        if key not in facts["keys"] and key not in facts["firecracker"]:
            fail("schema: documents %s, which config.c treats as an unknown key" % key)
    if schema.get("additionalProperties") is not True:
        fail("schema: additionalProperties must be true (unknown keys are warnings)")


# Invalid configs: the schema and the loader must both refuse each.
INVALID = [
    {"deployments": {"enabled": "yes"}},
    {"deployments": {"lease": 3000}},
    {"deployments": {"lease_ms": 10}},
    {"deployments": {"bucket": "A.B"}},
    {"machine_pool_size": 0},
    {"machine_pool_size": "2"},
    {"heartbeat_interval_ms": 99},
    {"machine_template": {"memsize_mib": 2}},
    {"sandbox": "bogus"},
    {"no_sandbox": "yes"},
    {"workload_types": ["v8"]},
    {"valid_issuers": ["XD5MSFA6AFZURODGO5KM32NVOJCRE3FLCZSMZUK4HFPP7ISJJXSUK3L3"]},
    {"requester_public_keys": ["ABETAEPLS5EB5ZKAL47BZULTHSIR5MAFB6GYOTEPECL4AMOGNCWYWM7V"]},
    {"tags": {"env": 1}},
    {"node_limits": {"max_workloads": -1}},
    {"state_dir": ""},
    {"network": "bridge"},
    {"cgroup": "v3"},
    {"cgroup_root": "relative/path"},
    {"uid_range": {"start": 0}},
    {"uid_range": {"lock_dir": "run/nexc/uids"}},
    {"max_resources": {"gpus": 1}},
    {"max_resources": {"vcpus": 0.001}},
    {"pids_limit": 7},
    {"logs": {"stream": {"name": "no.dots"}}},
    {"logs": {"stream": {"max_age": "24"}}},
    {"logs": {"stream": {"replicas": 6}}},
    {"logs": {"stream": {"retention": "interest"}}},
    {"autostart": {"workloads": [{"name": "bad name", "type": "native", "location": "/bin/true"}]}},
]


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    src, build = sys.argv[1], sys.argv[2]
    schema_path = os.path.join(src, "schemas", "node-config.schema.json")
    nexc_node = os.path.join(build, "node", "nexc-node")

    schema = load_json(schema_path)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    validator = cls(schema)
    print("schema %s: valid %s" % (schema_path, cls.__name__))

    if not os.access(nexc_node, os.X_OK):
        fail("%s is not built" % nexc_node)
        nexc_node = None

    check_schema_mirrors_loader(schema, loader_facts(os.path.join(src, "node", "core")))

    examples = sorted(glob.glob(os.path.join(src, "examples", "nodeconfigs", "*.json")))
    if not examples:
        fail("no examples/nodeconfigs/*.json found")
    for path in examples:
        name = os.path.relpath(path, src)
        try:
            doc = load_json(path)
        except ValueError as e:
            fail("%s: not valid JSON: %s" % (name, e))
            continue
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        for e in errors:
            fail("%s: schema: %s: %s" % (name, "/".join(map(str, e.absolute_path)) or "(root)",
                                          e.message))
        if nexc_node:
            rc, out, err = check_config(nexc_node, path)
            if rc != 0:
                fail("%s: check-config exited %d: %s" % (name, rc, err.strip()))
            else:
                try:
                    json.loads(out)
                except ValueError as e:
                    fail("%s: check-config printed invalid JSON: %s" % (name, e))
        if not errors:
            print("ok: %s" % name)

    with tempfile.TemporaryDirectory() as tmp:
        for i, doc in enumerate(INVALID):
            text = json.dumps(doc)
            if validator.is_valid(doc):
                fail("schema accepts invalid config %s" % text)
            if nexc_node:
                path = os.path.join(tmp, "invalid%d.json" % i)
                with open(path, "w") as f:
                    f.write(text)
                rc, _, _ = check_config(nexc_node, path)
                if rc == 0:
                    fail("check-config accepts invalid config %s" % text)
        print("ok: %d invalid configs refused" % len(INVALID))

    # The deployment specs of examples/deployments/ against their schema.
    with open(os.path.join(src, "schemas", "deployment.schema.json")) as f:
        dschema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(dschema)
    for path in sorted(glob.glob(os.path.join(src, "examples", "deployments", "*.json"))):
        errors = list(jsonschema.Draft202012Validator(dschema).iter_errors(load_json(path)))
        for e in errors:
            fail("%s: deployment schema: %s" % (os.path.relpath(path, src), e.message))
        if not errors:
            print("ok: %s" % os.path.relpath(path, src))

    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("all node configuration checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
