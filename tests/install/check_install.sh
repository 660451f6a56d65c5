#!/bin/sh
# Install into a temporary prefix and check what a user gets: the binaries,
# the man pages, the dashboard's files,
# the systemd unit (valid per systemd-analyze when available), the default
# config (refused by check-config until `nexc-node init` names an issuer), and a program built against the client
# library with nothing but pkg-config.
set -eu
src=$1
build=$2
prefix=$(mktemp -d /tmp/nexc-install-XXXXXX)
cfg=$(mktemp -d /tmp/nexc-install-cfg-XXXXXX)
trap 'rm -rf "$prefix" "$cfg"' EXIT
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/nexc-node bin/nexc-agent bin/nexc lib/systemd/system/nexc-node.service \
         etc/nexc/config.json include/nexc/api/nexc.h share/man/man1/nexc.1.gz \
         share/man/man8/nexc-node.8.gz share/man/man8/nexc-agent.8.gz \
         share/nexc/dashboard/index.html share/nexc/dashboard/dist/bundle.js; do
  [ -e "$prefix/$f" ] || { echo "missing after install: $f" >&2; exit 1; }
done
[ "$(stat -c %a "$prefix/etc/nexc/config.json")" = 600 ] || { echo "config.json is not 0600" >&2; exit 1; }
libdir=$(ls -d "$prefix"/lib*/pkgconfig | head -1)
# The packaged config is refused until an issuer is named; init names one.
cp "$prefix/etc/nexc/config.json" "$cfg/config.json"
if "$prefix/bin/nexc-node" check-config "$cfg/config.json" >/dev/null 2>"$cfg/err"; then
  echo "packaged config accepted with no valid_issuers" >&2; exit 1
fi
grep -q "nexc-node init" "$cfg/err"
"$prefix/bin/nexc-node" init --config "$cfg/config.json" >/dev/null
"$prefix/bin/nexc-node" check-config "$cfg/config.json" >/dev/null
# The unit names the prefix configured at build time (CMAKE_INSTALL_PREFIX).
grep -q "^ExecStart=.*/bin/nexc-node up --config /etc/nexc/config.json" "$prefix/lib/systemd/system/nexc-node.service"
grep -q "^Delegate=yes" "$prefix/lib/systemd/system/nexc-node.service"
if command -v systemd-analyze >/dev/null 2>&1; then
  systemd-analyze verify "$prefix/lib/systemd/system/nexc-node.service" 2>&1 | grep -v "not executable\|No such file\|Failed to prepare" | grep -i "error" && exit 1 || true
fi
cat > "$prefix/client.c" <<'C'
#include <stdio.h>
#include "api/nexc.h"
int main (void)
{
  struct nkey_pair kp;
  struct nxerr err = { 0 };
  if (nkey_pair_generate (NKEY_ACCOUNT, &kp, &err) < 0)
    return 1;
  printf ("%c\n", kp.public_text[0]);
  return kp.public_text[0] == 'A' ? 0 : 1;
}
C
PKG_CONFIG_PATH="$libdir" cc -o "$prefix/client" "$prefix/client.c" \
  $(PKG_CONFIG_PATH="$libdir" pkg-config --define-variable=prefix="$prefix" --cflags nexc) \
  $(PKG_CONFIG_PATH="$libdir" pkg-config --define-variable=prefix="$prefix" --libs --static nexc)
"$prefix/client" >/dev/null
echo "install check passed"
