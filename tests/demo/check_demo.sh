#!/bin/bash
# scripts/demo without a terminal, on the binaries already built (setup and
# build skipped): the echo workload answers, its log line and events show,
# and the demo stops everything it started.
set -u
root=$1
out=$(mktemp)
trap 'rm -f "$out"' EXIT
NEXC_DEMO_PREBUILT=1 timeout 150 "$root/scripts/demo" </dev/null >"$out" 2>&1
rc=$?
fail=0
expect() {
  if ! grep -qF -- "$1" "$out"; then
    echo "check_demo: missing from the demo's output: $1" >&2
    fail=1
  fi
}
[ "$rc" -eq 0 ] || { echo "check_demo: scripts/demo exited $rc" >&2; fail=1; }
expect "echo: hello nexc"
expect "INFO  echoservice: replied to request on demo.echo"
expect "workload_started"
expect "workload_stopped"
expect "demo: stopped everything"
if [ "$fail" -ne 0 ]; then
  tail -60 "$out" >&2
  exit 1
fi
echo "check_demo: ok ($(grep -c '^' "$out") lines of output)"
