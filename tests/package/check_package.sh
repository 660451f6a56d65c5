#!/bin/sh
# Build the Debian package with scripts/package and check what a user gets.
#
# - control: name, version, architecture; Depends names the package of every
#   shared library the binaries link (found with readelf and dpkg -S, not a
#   list kept here); Recommends nats-server; /etc/nexc/config.json is a
#   conffile; postinst enables and starts nothing.
# - contents (dpkg-deb -x into a temp root): each file at its path with its
#   mode (programs 0755, config 0600, the rest 0644, directories 0755), all
#   root's, nothing outside /etc/nexc and /usr, nothing that enables the unit;
#   the unit runs /usr/bin/nexc-node check-config before up; nexc.pc names
#   /usr; the man pages are gzip and render; the dashboard page finds every
#   file it loads.
# - the programs run from that root: versions, --help, preflight's table on
#   the packaged config, check-config refusing it with the init hint and
#   accepting it after `nexc-node init`.
# - removal: what was extracted is exactly what `dpkg-deb -c` lists, and
#   removing those paths leaves the root empty.
# - as root, also a real dpkg in a private root (dpkg --root, maintainer
#   scripts chrootless with DPKG_ROOT): install prints the init hint, a
#   reinstall keeps the config init changed, remove leaves only the
#   conffile and the key, purge leaves nothing.
# No debootstrap here: it needs a Debian mirror, which the machine lacks.
# Exit 77 (skipped) without cpack, dpkg-deb, dpkg-shlibdeps or file.
# Usage: check_package.sh SRC BUILD
set -eu
src=$1
build=$2
for t in cpack dpkg-deb dpkg-shlibdeps file readelf; do
  command -v "$t" >/dev/null 2>&1 || { echo "SKIPPED: $t is missing (scripts/setup)"; exit 77; }
done
tmp=$(mktemp -d /tmp/nexc-package-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The package's own tree, kept in the test's build tree between runs
# (incremental: the first run builds for ~15 s).
deb=$("$src/scripts/package" --build-dir "$build/tests/package/build-pkg" --out "$tmp/out")
[ -f "$deb" ] || fail "scripts/package made no .deb"
version=$(sed -n 's/^project(nexc VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
arch=$(dpkg --print-architecture)
[ "$(basename "$deb")" = "nexc_${version}_${arch}.deb" ] || fail "package named $(basename "$deb")"
echo "built $(basename "$deb") ($(wc -c < "$deb") bytes)"

# ---- control
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = nexc ] || fail "Package: $(field Package)"
[ "$(field Version)" = "$version" ] || fail "Version: $(field Version)"
[ "$(field Architecture)" = "$arch" ] || fail "Architecture: $(field Architecture)"
depends=$(field Depends)
echo "Depends: $depends"
echo "Recommends: $(field Recommends)"
echo "$(field Recommends)" | grep -qw nats-server || fail "nats-server is not recommended"
dpkg-deb -e "$deb" "$tmp/control"
grep -qx /etc/nexc/config.json "$tmp/control/conffiles" || fail "config.json is not a conffile"
for s in postinst prerm postrm; do
  [ "$(stat -c %a "$tmp/control/$s")" = 755 ] || fail "$s is not 0755"
  sh -n "$tmp/control/$s" || fail "$s: syntax"
done
# Not enabled by the package: no command line of a maintainer script enables
# or starts the unit (the hint echoes the command; echo lines are text).
if grep -v '^ *#' "$tmp/control/postinst" "$tmp/control/prerm" "$tmp/control/postrm" \
     | grep -v 'echo ' | grep -E 'systemctl.* (enable|start|restart)|deb-systemd-(helper|invoke)'; then
  fail "a maintainer script enables, starts or restarts the unit"
fi

# ---- contents
root=$tmp/root
dpkg-deb -x "$deb" "$root"
dpkg-deb -c "$deb" > "$tmp/listing"
# Every shared library the programs need, found in the package that holds it
# on this machine, is in Depends.
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch)
for b in nexc nexc-node nexc-agent; do
  readelf -d "$root/usr/bin/$b" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
done | sort -u > "$tmp/needed"
[ -s "$tmp/needed" ] || fail "no program links a shared library (readelf)"
while read -r so; do
  pkg=$(dpkg -S "/usr/lib/$multiarch/$so" "/lib/$multiarch/$so" 2>/dev/null | head -1 | cut -d: -f1)
  [ -n "$pkg" ] || fail "no installed package holds $so"
  echo "$depends" | tr ',' '\n' | grep -Eq "^ *$pkg( |\$)" || fail "$so is $pkg's, not in Depends"
done < "$tmp/needed"
echo "Depends covers $(wc -l < "$tmp/needed") linked libraries: $(tr '\n' ' ' < "$tmp/needed")"

mode() {
  want=$1
  shift
  for f in "$@"; do
    [ -e "$root/$f" ] || fail "missing: /$f"
    got=$(stat -c %a "$root/$f")
    [ "$got" = "$want" ] || fail "/$f is $got, not $want"
  done
}
mode 755 usr/bin/nexc usr/bin/nexc-node usr/bin/nexc-agent
mode 600 etc/nexc/config.json
mode 644 usr/lib/systemd/system/nexc-node.service usr/include/nexc/api/nexc.h \
  usr/include/nexc/agent.pb-c.h "usr/lib/$multiarch/libnexc_api.a" \
  "usr/lib/$multiarch/pkgconfig/nexc.pc" usr/share/man/man1/nexc.1.gz \
  usr/share/man/man8/nexc-node.8.gz usr/share/man/man8/nexc-agent.8.gz \
  usr/share/nexc/dashboard/index.html usr/share/nexc/dashboard/style.css \
  usr/share/nexc/dashboard/dist/bundle.js usr/share/doc/nexc/README.md
# Directories 0755, other files 0644, all root's; nothing but /etc/nexc and /usr.
awk '{ print $1, $2, $6 }' "$tmp/listing" | while read -r perm owner path; do
  [ "$owner" = root/root ] || fail "$path is owned by $owner"
  case "$path" in
    ./etc/ | ./etc/nexc/ | ./etc/nexc/* | ./usr/ | ./usr/*) ;;
    *) fail "$path: outside /etc/nexc and /usr" ;;
  esac
  case "$perm:$path" in
    d*:*) [ "$perm" = drwxr-xr-x ] || fail "$path is $perm" ;;
    *:./usr/bin/*) [ "$perm" = -rwxr-xr-x ] || fail "$path is $perm" ;;
    *:./etc/nexc/config.json) ;;
    *) [ "$perm" = -rw-r--r-- ] || fail "$path is $perm" ;;
  esac
done
grep -q '/usr/local' "$tmp/listing" && fail "the package holds /usr/local paths"
unit=$root/usr/lib/systemd/system/nexc-node.service
grep -qx 'ExecStartPre=/usr/bin/nexc-node check-config /etc/nexc/config.json' "$unit" \
  || fail "the unit does not check the config before each start"
grep -qx 'ExecStart=/usr/bin/nexc-node up --config /etc/nexc/config.json --state-dir /var/lib/nexc' "$unit" \
  || fail "the unit's ExecStart"
grep -qx 'WantedBy=multi-user.target' "$unit" || fail "the unit has no [Install]"
grep -q '^prefix=/usr$' "$root/usr/lib/$multiarch/pkgconfig/nexc.pc" || fail "nexc.pc's prefix"
for m in man1/nexc.1 man8/nexc-node.8 man8/nexc-agent.8; do
  gzip -t "$root/usr/share/man/$m.gz" || fail "$m.gz is not gzip"
  if command -v groff >/dev/null 2>&1; then
    w=$(gzip -dc "$root/usr/share/man/$m.gz" | groff -man -ww -z 2>&1) || true
    [ -z "$w" ] || fail "$m does not render cleanly: $w"
  fi
done
# Everything the page loads from its own origin is installed beside it.
dash=$root/usr/share/nexc/dashboard
for ref in $(grep -o -E '(src|href)="[^"]*"' "$dash/index.html" | sed 's/^[a-z]*="\(.*\)"$/\1/'); do
  case "$ref" in data:* | http:* | https:* | ws:* | "#"*) continue ;; esac
  [ -f "$dash/$ref" ] || fail "the dashboard loads $ref, which is not installed"
done
echo "contents: $(grep -vc '^d' "$tmp/listing") files at their paths and modes; unit, pc, man pages, dashboard ok"

# ---- the programs, from the extracted root
[ "$("$root/usr/bin/nexc" --version)" = "nexc $version" ] || fail "nexc --version"
[ "$("$root/usr/bin/nexc-node" version)" = "nexc-node $version" ] || fail "nexc-node version"
[ "$("$root/usr/bin/nexc-agent" --version)" = "nexc-agent $version" ] || fail "nexc-agent --version"
"$root/usr/bin/nexc" --help > /dev/null || fail "nexc --help"
"$root/usr/bin/nexc-node" --help > /dev/null || fail "nexc-node --help"
# A copy of the config (the extracted root stays as the package made it).
mkdir -p "$tmp/etc" "$tmp/state"
cp -p "$root/etc/nexc/config.json" "$tmp/etc/config.json"
rc=0
"$root/usr/bin/nexc-node" preflight --config "$tmp/etc/config.json" --state-dir "$tmp/state" \
  --server nats://127.0.0.1:1 > "$tmp/preflight" 2>&1 || rc=$?
[ "$rc" -le 1 ] || { cat "$tmp/preflight" >&2; fail "preflight exited $rc"; }
grep -q '^  CHECK  *STATUS  *DETAIL' "$tmp/preflight" || { cat "$tmp/preflight" >&2; fail "preflight printed no table"; }
grep -q "^  config  *MISSING .*nexc-node init" "$tmp/preflight" || fail "preflight: no config row naming init"
grep -q "^  agent  *ok  *$root/usr/bin/nexc-agent\$" "$tmp/preflight" || fail "preflight: the agent beside nexc-node"
echo "preflight (exit $rc):"
sed 's/^/  | /' "$tmp/preflight"
if "$root/usr/bin/nexc-node" check-config "$tmp/etc/config.json" > /dev/null 2> "$tmp/err"; then
  fail "check-config accepted the packaged config"
fi
grep -q 'nexc-node init --config' "$tmp/err" || fail "check-config's refusal does not name init"
"$root/usr/bin/nexc-node" init --config "$tmp/etc/config.json" > /dev/null
"$root/usr/bin/nexc-node" check-config "$tmp/etc/config.json" > /dev/null \
  || fail "check-config refused the config init wrote"
mode_of() { stat -c %a "$1"; }
[ "$(mode_of "$tmp/etc/config.json")" = 600 ] && [ "$(mode_of "$tmp/etc/issuer.nk")" = 600 ] \
  || fail "init's config or key is not 0600"
echo "check-config: refuses the packaged config with the init hint, accepts it after init"

# ---- removal of the extracted tree: exactly the listed paths
sed 's/.* \.\//\//; s/\/$//' "$tmp/listing" | grep -v '^$' | sort > "$tmp/listed"
(cd "$root" && find . -mindepth 1 | sed 's/^\.//' | sort) > "$tmp/found"
if ! cmp -s "$tmp/listed" "$tmp/found"; then
  diff "$tmp/listed" "$tmp/found" >&2 || true
  fail "the extracted tree is not what dpkg-deb -c lists"
fi
sort -r "$tmp/listed" | while read -r p; do
  if [ -d "$root$p" ] && [ ! -L "$root$p" ]; then rmdir "$root$p"; else rm "$root$p"; fi
done
[ -z "$(ls -A "$root")" ] || fail "removing the listed paths left: $(ls -A "$root")"
echo "removal: the $(wc -l < "$tmp/listed") listed paths are all that was extracted, and removing them leaves nothing"

# ---- a real dpkg, in a private root (root only)
if [ "$(id -u)" -ne 0 ] || ! command -v dpkg >/dev/null 2>&1; then
  echo "dpkg --root: skipped (not root)"
  echo "package check passed"
  exit 0
fi
droot=$tmp/dpkg-root
case "$droot" in /tmp/nexc-package-*/dpkg-root) ;; *) fail "bad private root $droot" ;; esac
mkdir -p "$droot/var/lib/dpkg/info" "$droot/var/lib/dpkg/updates" "$droot/var/lib/dpkg/triggers"
: > "$droot/var/lib/dpkg/status"
: > "$droot/var/lib/dpkg/available"
dpkgr() {
  dpkg --root="$droot" --force-script-chrootless --force-depends --force-confdef --force-confold \
    --log=/dev/null "$@" < /dev/null
}
dpkgr -i "$deb" > "$tmp/dpkg.out" 2>&1 || { cat "$tmp/dpkg.out" >&2; fail "dpkg -i"; }
grep -q 'nexc-node init --config /etc/nexc/config.json' "$tmp/dpkg.out" \
  || { cat "$tmp/dpkg.out" >&2; fail "postinst printed no init hint"; }
dpkg --root="$droot" -s nexc | grep -qx 'Status: install ok installed' || fail "not installed"
[ -z "$(ls -A "$droot/etc/systemd" 2>/dev/null)" ] || fail "the install enabled something"
[ "$(mode_of "$droot/etc/nexc/config.json")" = 600 ] || fail "installed config is not 0600"
"$droot/usr/bin/nexc-node" init --config "$droot/etc/nexc/config.json" > /dev/null
dpkgr -i "$deb" > "$tmp/dpkg.out" 2>&1 || { cat "$tmp/dpkg.out" >&2; fail "dpkg -i (again)"; }
grep -q 'nexc-node init --config' "$tmp/dpkg.out" && fail "postinst hints at init after init"
"$droot/usr/bin/nexc-node" check-config "$droot/etc/nexc/config.json" > /dev/null \
  || fail "a reinstall lost the config init wrote"
mkdir -p "$droot/var/lib/nexc" && : > "$droot/var/lib/nexc/identity"
dpkgr -r nexc > "$tmp/dpkg.out" 2>&1 || { cat "$tmp/dpkg.out" >&2; fail "dpkg -r"; }
left=$(cd "$droot" && find . -path ./var/lib/dpkg -prune -o -type f -print | sort | tr '\n' ' ')
[ "$left" = "./etc/nexc/config.json ./etc/nexc/issuer.nk ./var/lib/nexc/identity " ] \
  || fail "after remove: $left"
dpkgr -P nexc > "$tmp/dpkg.out" 2>&1 || { cat "$tmp/dpkg.out" >&2; fail "dpkg -P"; }
left=$(cd "$droot" && find . -mindepth 1 -path ./var/lib/dpkg -prune -o -print | sort | tr '\n' ' ')
[ "$left" = "./var ./var/lib " ] || fail "after purge: $left"
echo "dpkg --root: install (init hint), reinstall keeps init's config, remove keeps config and key, purge leaves nothing"
echo "package check passed"
