#!/usr/bin/env bash
# Build one pinned Go binary from its own build module under tools/<tool>/
# (go.mod + go.sum committed, tool.env naming the package, output and ldflags),
# cached per machine like tools/kube:
#
#   tools/gomod/build.sh <tool>                  build or restore into .tools/<tool>/bin
#   tools/gomod/build.sh <tool> --print-bin      print the binary's path and exit
#
# Cache: ${LLM_PLATFORM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-platform}/<tool>-<key>/
# keyed by tool.env, go.mod, go.sum, this script's layout version and the Go toolchain.
# The compile runs under `flock /tmp/llm-platform-heavy.lock nice -n 10` (the machine's
# cores are shared) and prints how many of the packages are compiled every 30 s.
set -euo pipefail

tool="${1:?usage: tools/gomod/build.sh <tool> [--print-bin]}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
mod_dir="$repo/tools/$tool"
[[ -f "$mod_dir/tool.env" && -f "$mod_dir/go.mod" ]] || { echo "tools/$tool: no tool.env/go.mod" >&2; exit 2; }
# shellcheck disable=SC1090
source "$mod_dir/tool.env"   # BINARY, PACKAGE, LDFLAGS, VERSION; optional EXTRA_MODULE + EXTRA_FILES
# EXTRA_FILES: paths inside EXTRA_MODULE's source (at the version go.mod pins) copied next to the
# binary, e.g. a CRD the binary needs that no chart ships.
bin_dir="$repo/.tools/$tool/bin"
if [[ "${2:-}" == "--print-bin" ]]; then echo "$bin_dir/$BINARY"; exit 0; fi

log() { printf '==> [%s-build] %s\n' "$tool" "$*"; }
start=$SECONDS
command -v go >/dev/null || { echo "go not found on PATH" >&2; exit 1; }
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
go_version="$(go env GOVERSION)"
key_input="$(
  echo "layout=1"
  cat "$mod_dir/tool.env" "$mod_dir/go.mod" "$mod_dir/go.sum"
  echo "$go_version $(go env GOOS) $(go env GOARCH) CGO_ENABLED=$CGO_ENABLED"
)"
key="$(printf '%s' "$key_input" | sha256sum | cut -c1-16)"
cache_root="${LLM_PLATFORM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-platform}"
cache_dir="$cache_root/$tool-$VERSION-$key"

if [[ -x "$bin_dir/$BINARY" && "$(cat "$bin_dir/.key" 2>/dev/null || true)" == "$key" ]]; then
  log "up to date: $bin_dir/$BINARY ($VERSION, key $key)"
  exit 0
fi

mkdir -p "$cache_root"
exec 9>"$cache_root/$tool-$VERSION-$key.lock"
if ! flock -n 9; then
  log "waiting for another build of the same key"
  flock -w "${LLM_PLATFORM_BUILD_LOCK_TIMEOUT:-5400}" 9
fi

if [[ ! -x "$cache_dir/$BINARY" ]]; then
  stage="$(mktemp -d "$cache_root/.$tool-build.XXXXXX")"
  trap 'rm -rf "$stage"; [[ -n "${ticker:-}" ]] && kill "$ticker" 2>/dev/null || true' EXIT
  log "download modules of $PACKAGE@$VERSION"
  (cd "$mod_dir" && go mod download)
  total="$(cd "$mod_dir" && go list -deps "$PACKAGE" | wc -l)"
  log "compile $PACKAGE@$VERSION ($total packages; waits for /tmp/llm-platform-heavy.lock, runs niced)"
  compile_start=$SECONDS
  compile_epoch="$(date +%s)"
  (
    while sleep 30; do
      n="$(wc -l <"$stage/build.log" 2>/dev/null || echo 0)"
      printf '    [%s-build] %ss: %s/%s packages compiled\n' "$tool" "$((SECONDS - compile_start))" "$n" "$total"
    done
  ) &
  ticker=$!
  # -v lists each package as it is compiled: the ticker counts them for progress.
  # The lock is taken here and the build timed inside it, so waiting is reported apart.
  (cd "$mod_dir" && flock /tmp/llm-platform-heavy.lock bash -c '
      date +%s >"$0/lock-acquired"
      exec nice -n 10 go build -v -trimpath -ldflags "$1" -o "$0/$2" "$3"' \
      "$stage" "$LDFLAGS" "$BINARY" "$PACKAGE") 2>"$stage/build.log" \
    || { cat "$stage/build.log" >&2; exit 1; }
  kill "$ticker" 2>/dev/null || true; ticker=""
  waited="$(($(cat "$stage/lock-acquired") - compile_epoch))"
  log "compiled in $((SECONDS - compile_start - waited))s after waiting ${waited}s for the heavy-build lock"
  for f in ${EXTRA_FILES:-}; do
    src="$(cd "$mod_dir" && go list -m -f '{{.Dir}}' "$EXTRA_MODULE")/$f"
    cp "$src" "$stage/$(basename "$f")"
  done
  printf '%s\n' "$key_input" >"$stage/key-input.txt"
  rm -f "$stage/build.log" "$stage/lock-acquired"
  rm -rf "$cache_dir"
  mv "$stage" "$cache_dir"   # atomic: a half build is never cached
  trap - EXIT
else
  log "cache hit: $cache_dir"
fi

rm -rf "$bin_dir"
mkdir -p "$bin_dir"
for f in "$BINARY" ${EXTRA_FILES:-}; do
  f="$(basename "$f")"
  ln "$cache_dir/$f" "$bin_dir/$f" 2>/dev/null || cp "$cache_dir/$f" "$bin_dir/$f"
done
printf '%s\n' "$key" >"$bin_dir/.key"
log "ready in $((SECONDS - start))s: $bin_dir/$BINARY"
