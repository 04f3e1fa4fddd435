#!/usr/bin/env bash
# Build a pinned MinIO server from its Go module, for the adapter-publishing tests
# (tests/components/test_adapter_publish_s3.py starts it on 127.0.0.1).
#
#   tools/minio/build.sh        build (or restore from the machine cache); no-op when present
#   tools/minio/build.sh mc     the same for the mc client (tests of the ObjectStore setup script)
#
# Produces .tools/minio/minio (or .tools/minio/mc; git-ignored) and a machine-level cache
#   ${LLM_PLATFORM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-platform}/<tool>-<version>/<tool>
# so that a fresh clone restores in seconds. Only the Go module proxy is used.
# The build is niced: it is a test prerequisite, not something to hog a shared machine with.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# github.com/minio/minio has no semver tags: pin the pseudo-version of a commit
# (upstream master, 2026-02-12; the module proxy's @latest at the time of pinning).
MINIO_MODULE_VERSION=${MINIO_MODULE_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}
# github.com/minio/mc: same situation (the proxy's @latest at the time of pinning).
MC_MODULE_VERSION=${MC_MODULE_VERSION:-v0.0.0-20250313080218-cf909e1063a9}

TOOL=${1:-minio}
case "$TOOL" in
	minio) MODULE=github.com/minio/minio VERSION_PIN=$MINIO_MODULE_VERSION ;;
	mc) MODULE=github.com/minio/mc VERSION_PIN=$MC_MODULE_VERSION ;;
	*) echo "usage: $0 [minio|mc]" >&2; exit 2 ;;
esac

CACHE_ROOT=${LLM_PLATFORM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-platform}
CACHE_DIR="$CACHE_ROOT/$TOOL-$VERSION_PIN"
OUT_DIR="$ROOT/.tools/minio"
mkdir -p "$OUT_DIR" "$CACHE_ROOT"

# One build at a time per machine (parallel test runs all ask for the binary): later callers
# wait for the lock, then restore from the cache below.
exec 9>"$CACHE_ROOT/$TOOL-build.lock"
flock 9

BIN="$OUT_DIR/$TOOL"
if [ -x "$BIN" ] && [ "$(cat "$BIN.version" 2>/dev/null)" = "$VERSION_PIN" ]; then
	echo "[$TOOL] up to date: $BIN ($VERSION_PIN)"
	exit 0
fi
if [ -x "$CACHE_DIR/$TOOL" ]; then
	cp "$CACHE_DIR/$TOOL" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
	echo "$VERSION_PIN" >"$BIN.version"
	echo "[$TOOL] restored from $CACHE_DIR"
	exit 0
fi

command -v go >/dev/null || { echo "[$TOOL] FAILED: go toolchain not found" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "[$TOOL] building $MODULE@$VERSION_PIN (niced; several minutes on 2 cores)"
# `go install module@version` builds exactly the module's own go.mod/go.sum (no replaces upstream).
GOBIN="$WORK/bin" CGO_ENABLED=0 GOTOOLCHAIN=${GOTOOLCHAIN:-auto} \
	nice -n 10 go install -trimpath -ldflags "-s -w" "$MODULE@$VERSION_PIN"
mkdir -p "$CACHE_DIR"
cp "$WORK/bin/$TOOL" "$CACHE_DIR/$TOOL.tmp" && mv "$CACHE_DIR/$TOOL.tmp" "$CACHE_DIR/$TOOL"
cp "$CACHE_DIR/$TOOL" "$BIN.tmp" && mv "$BIN.tmp" "$BIN"
echo "$VERSION_PIN" >"$BIN.version"
echo "[$TOOL] built $BIN"
