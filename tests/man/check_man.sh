#!/bin/sh
# The man pages (docs/man/*.in, as configured in BUILD/man) say what each
# program's --help says: every command of the help has an entry (a bold
# line starting with it), every --flag of the help is in the page, every
# --flag of the page is in the help, and .TH names the version that
# `PROGRAM --version` prints. groff, when there, must render each page
# without a warning. Usage: check_man.sh BUILD
set -eu
build=$1
tmp=$(mktemp -d /tmp/nexc-man-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail=0

# roff source -> plain text lines: comments dropped, \- and \(xx and font
# escapes undone.
plain() {
  sed -e '/^\.\\"/d' -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\([a-z][a-z]//g' "$1"
}
flags() { grep -o -- '--[a-z][a-z0-9-]*' | sort -u; }

# check PROGRAM PAGE HELPFILE COMMANDFILE (one command a line)
check() {
  prog=$1 page=$2 help=$3 cmds=$4
  name=$(basename "$prog") man=$(basename "$2") before=$fail
  fail=0
  [ -s "$page" ] || { echo "$name: no man page $page" >&2; fail=1; return; }
  plain "$page" > "$tmp/page"
  flags < "$help" > "$tmp/help.flags"
  # Example lines that run another program (systemctl ...) are not its flags.
  awk -v me="$name" '/^\.nf/ { ex = 1; next } /^\.fi/ { ex = 0; next }
                     !ex || $1 == me { print }' "$tmp/page" | flags > "$tmp/page.flags"
  for f in $(comm -23 "$tmp/help.flags" "$tmp/page.flags"); do
    echo "$name: $f is in --help but not in $man" >&2; fail=1
  done
  for f in $(comm -13 "$tmp/help.flags" "$tmp/page.flags"); do
    echo "$name: $f is in $man but not in --help" >&2; fail=1
  done
  # An entry: the tag line of a .TP paragraph, in bold, opening with the command.
  awk '/^\.TP/ { if (getline > 0) print }' "$tmp/page" > "$tmp/page.tags"
  while read -r c; do
    grep -Eq "^\.B[IR]? \"?$c( |\"|\$)" "$tmp/page.tags" \
      || { echo "$name: command \"$c\" has no entry in $man" >&2; fail=1; }
  done < "$cmds"
  version=$("$prog" --version | sed -n "s/^$name //p")
  grep -q "^\.TH .*\"nexc $version\"" "$page" \
    || { echo "$name: .TH of $man does not name version $version" >&2; fail=1; }
  if command -v groff >/dev/null 2>&1; then
    groff -man -ww -z "$page" 2> "$tmp/groff" || true
    if [ -s "$tmp/groff" ]; then
      echo "$name: groff warns on $man:" >&2; cat "$tmp/groff" >&2; fail=1
    fi
  fi
  [ "$fail" -ne 0 ] \
    || echo "$name: $(wc -l < "$tmp/help.flags") flags, $(wc -l < "$cmds") commands: $man in sync"
  [ "$before" -eq 0 ] || fail=1
}

# nexc: the commands are the lowercase words that open an entry (two spaces
# in) of the "commands:" block: "nodes ls", "run", "keygen", ...
nexc=$build/api/nexc
"$nexc" --help > "$tmp/nexc.help"
sed -n '/^commands:/,/^$/p' "$tmp/nexc.help" \
  | sed -n 's/^  \([a-z][a-z-]*\( [a-z][a-z-]*\)*\)\( .*\)\{0,1\}$/\1/p' > "$tmp/nexc.cmds"
check "$nexc" "$build/man/nexc.1" "$tmp/nexc.help" "$tmp/nexc.cmds"

# nexc-node: the word after "nexc-node" on each usage line; the subcommands'
# own --help texts count too.
node=$build/node/nexc-node
{
  "$node" --help
  for c in up init preflight; do "$node" "$c" --help; done
} > "$tmp/node.help"
sed -n 's/^\(usage:\)\{0,1\} *nexc-node \([a-z][a-z-]*\).*/\2/p' "$tmp/node.help" | sort -u \
  > "$tmp/node.cmds"
check "$node" "$build/man/nexc-node.8" "$tmp/node.help" "$tmp/node.cmds"

# nexc-agent: no commands, its modes are flags.
agent=$build/agent/nexc-agent
"$agent" --help > "$tmp/agent.help"
: > "$tmp/agent.cmds"
check "$agent" "$build/man/nexc-agent.8" "$tmp/agent.help" "$tmp/agent.cmds"

exit $fail
