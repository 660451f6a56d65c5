#!/bin/sh
# Run nexc-bench --smoke and check that every row it declares (--list-rows)
# is in the printed table with a measurement: not missing, not FAILED, not
# "not run", and that the JSON file lists the same rows.
# Usage: check.sh NEXC_BENCH BUILD_DIR
set -u
bench=$1
build=$2
if ! command -v nats-server >/dev/null 2>&1; then
  echo "bench_smoke: nats-server is not installed: skipped"
  exit 77
fi
dir=$(mktemp -d /tmp/nexc-bench-smoke-XXXXXX) || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM
"$bench" --smoke --build-dir "$build" --json "$dir/results.json" >"$dir/table" 2>"$dir/log"
rc=$?
cat "$dir/table"
ids=$("$bench" --smoke --list-rows) || { echo "bench_smoke: --list-rows failed"; exit 1; }
bad=0
n=0
for id in $ids; do
  n=$((n + 1))
  line=$(awk -v id="$id" '$1 == id' "$dir/table")
  if [ -z "$line" ]; then
    echo "bench_smoke: row $id is missing from the table"
    bad=1
  elif printf '%s\n' "$line" | grep -q -e 'FAILED' -e ' not run'; then
    echo "bench_smoke: row $id has no measurement: $line"
    bad=1
  fi
  if ! grep -q "\"id\": \"$id\"" "$dir/results.json" 2>/dev/null; then
    echo "bench_smoke: row $id is missing from the JSON file"
    bad=1
  fi
done
if [ "$rc" -ne 0 ] || [ "$bad" -ne 0 ]; then
  echo "bench_smoke: nexc-bench exited with status $rc; its log:"
  tail -40 "$dir/log"
  exit 1
fi
echo "bench_smoke: all $n rows printed"
