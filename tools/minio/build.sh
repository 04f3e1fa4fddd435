#!/usr/bin/env bash
# Build a pinned MinIO server from its Go module, for the adapter-publishing tests
# (tests/components/test_adapter_publish_s3.py starts it on 127.0.0.1).
#
#   tools/minio/build.sh        build (or restore from the machine cache); no-op when present
#
# Produces .tools/minio/minio (git-ignored) and a machine-level cache
#   ${LLM_PLATFORM_CACHE:-$HOME/.cache/llm-platform}/minio-<version>/minio
# so that a fresh clone restores in seconds. Only the Go module proxy is used.
# The build is niced: it is a test prerequisite, not something to hog a shared machine with.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
# github.com/minio/minio has no semver tags: pin the pseudo-version of a commit
# (upstream master, 2026-02-12; the module proxy's @latest at the time of pinning).
MINIO_MODULE_VERSION=${MINIO_MODULE_VERSION:-v0.0.0-20260212201848-7aac2a2c5b7c}

CACHE_ROOT=${LLM_PLATFORM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-platform}
CACHE_DIR="$CACHE_ROOT/minio-$MINIO_MODULE_VERSION"
OUT_DIR="$ROOT/.tools/minio"
mkdir -p "$OUT_DIR" "$CACHE_ROOT"

# One build at a time per machine (parallel test runs all ask for the binary): later callers
# wait for the lock, then restore from the cache below.
exec 9>"$CACHE_ROOT/minio-build.lock"
flock 9

if [ -x "$OUT_DIR/minio" ] && [ "$(cat "$OUT_DIR/VERSION" 2>/dev/null)" = "$MINIO_MODULE_VERSION" ]; then
	echo "[minio] up to date: $OUT_DIR/minio ($MINIO_MODULE_VERSION)"
	exit 0
fi
if [ -x "$CACHE_DIR/minio" ]; then
	cp "$CACHE_DIR/minio" "$OUT_DIR/minio.tmp" && mv "$OUT_DIR/minio.tmp" "$OUT_DIR/minio"
	echo "$MINIO_MODULE_VERSION" >"$OUT_DIR/VERSION"
	echo "[minio] restored from $CACHE_DIR"
	exit 0
fi

command -v go >/dev/null || { echo "[minio] FAILED: go toolchain not found" >&2; exit 1; }
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "[minio] building github.com/minio/minio@$MINIO_MODULE_VERSION (niced; several minutes on 2 cores)"
# `go install module@version` builds exactly the module's own go.mod/go.sum (no replaces upstream).
GOBIN="$WORK/bin" CGO_ENABLED=0 GOTOOLCHAIN=${GOTOOLCHAIN:-auto} \
	nice -n 10 go install -trimpath -ldflags "-s -w" "github.com/minio/minio@$MINIO_MODULE_VERSION"
mkdir -p "$CACHE_DIR"
cp "$WORK/bin/minio" "$CACHE_DIR/minio.tmp" && mv "$CACHE_DIR/minio.tmp" "$CACHE_DIR/minio"
cp "$CACHE_DIR/minio" "$OUT_DIR/minio.tmp" && mv "$OUT_DIR/minio.tmp" "$OUT_DIR/minio"
echo "$MINIO_MODULE_VERSION" >"$OUT_DIR/VERSION"
echo "[minio] built $OUT_DIR/minio"
