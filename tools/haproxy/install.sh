#!/usr/bin/env bash
# Install Debian's haproxy 2.6 for the gate tests (tests/gate) and bench/gate_latency.py,
# without touching the system: the pinned .debs are fetched with `apt-get download`, checked
# against their sha256 and unpacked with `dpkg-deb -x` into a per-machine cache. No service
# is installed or started.
#
#   tools/haproxy/install.sh            install (or reuse); prints progress
#   tools/haproxy/install.sh --print    print the wrapper that runs haproxy (LD_LIBRARY_PATH set)
#
# Cache: ${LLM_PLATFORM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-platform}/haproxy-<key>/
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
cache_root="${LLM_PLATFORM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-platform}"
key="$(sha256sum <"$here/versions.env" | cut -c1-12)"
dir="$cache_root/haproxy-$key"
wrapper="$dir/bin/haproxy"

if [[ "${1:-}" == "--print" ]]; then
  echo "$wrapper"
  exit 0
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/haproxy-install.lock"
flock 9
if [[ -f "$dir/.complete" ]]; then
  echo "[haproxy] up to date: $dir"
  exit 0
fi
rm -rf "$dir" && mkdir -p "$dir/debs" "$dir/root" "$dir/bin"
cd "$dir/debs"
for pin in "$HAPROXY_DEB:$HAPROXY_SHA256" "$LUA_DEB:$LUA_SHA256" "$OT_WRAPPER_DEB:$OT_WRAPPER_SHA256" "$OT_DEB:$OT_SHA256"; do
  spec="${pin%%:*}"; sum="${pin##*:}"
  echo "[haproxy] apt-get download $spec"
  mkdir "$dir/debs/${spec%%=*}" && cd "$dir/debs/${spec%%=*}"
  if ! apt-get download -q "$spec" >download.log 2>&1; then
    cat download.log >&2
    echo "[haproxy] cannot download $spec (run 'apt-get update' once; the pinned version must still be in the archive)" >&2
    exit 1
  fi
  deb="$(echo ./*.deb)"
  echo "$sum  $deb" | sha256sum -c --quiet - || { echo "[haproxy] $deb: sha256 mismatch, expected $sum" >&2; exit 1; }
  dpkg-deb -x "$deb" "$dir/root"
done
cat >"$wrapper" <<WRAP
#!/bin/sh
LD_LIBRARY_PATH="$dir/root/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}" exec "$dir/root/usr/sbin/haproxy" "\$@"
WRAP
chmod +x "$wrapper"
"$wrapper" -v >"$dir/version.txt"
head -n 1 "$dir/version.txt"
touch "$dir/.complete"
echo "[haproxy] installed: $wrapper"
