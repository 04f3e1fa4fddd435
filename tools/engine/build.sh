#!/usr/bin/env bash
# Build the Pulumi engine from Go modules, pinned and cached, for `make up`.
#
#   tools/engine/build.sh            build (or restore) and register; no-op when up to date
#   ENGINE_PINS=FILE build.sh        use another pins file (default tools/engine/versions.env)
#
# Produces (all under the git-ignored .tools/):
#   .tools/engine/bin/pulumi                      CLI, version stamped = PULUMI_VERSION
#   .tools/engine/bin/pulumi-language-python      Python language host (+ -exec script next to it)
#   .tools/engine/bin/pulumi-resource-pulumi-python   dynamic-provider shim (from sdk/v3)
#   .tools/engine/bin/pulumi-analyzer-policy-python   policy-pack shim (tools/engine/)
#   .tools/engine/bin/pulumi-resource-kubernetes  provider, version = KUBERNETES_VERSION
#   .tools/engine/bin/pulumi-resource-random      provider, version = RANDOM_VERSION
#   .tools/pulumi-home/plugins/...                providers registered with `pulumi plugin install --file`
# and a machine-level cache keyed by the pins, so a fresh clone restores in seconds:
#   ${LLM_PLATFORM_CACHE:-$HOME/.cache/llm-platform}/engine-<key>/
#
# One build module per binary family (CLI, kubernetes, random) so that minimal
# version selection never raises a provider's pulumi dependencies to the CLI's.
# Only the Go module proxy is used. Exit status is non-zero, naming the failing
# step, when something cannot be built.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PINS=${ENGINE_PINS:-$HERE/versions.env}
# Bump when the recipe below changes in a way that changes the binaries.
RECIPE=4

T0=$SECONDS
STEP="start"
log() { printf '[engine %4ss] %s\n' "$((SECONDS - T0))" "$*"; }
DIED=0
die() {
	printf '[engine] FAILED at step "%s" after %ss: %s\n' "$STEP" "$((SECONDS - T0))" "$*" >&2
	DIED=1
	exit 1
}
trap 'rc=$?; if [ $rc -ne 0 ] && [ $DIED = 0 ]; then printf "[engine] FAILED at step \"%s\" (exit %s) after %ss\n" "$STEP" "$rc" "$((SECONDS - T0))" >&2; fi' EXIT
step() {
	STEP=$1
	log "step: $1"
}

# ---------------------------------------------------------------- pins
step "read pins"
[ -f "$PINS" ] || die "pins file $PINS not found"
unset PULUMI_VERSION PYTHON_LANGUAGE_HOST_MODULE_VERSION REQUIRE_PYTHON_LANGUAGE_HOST KUBERNETES_VERSION \
	KUBERNETES_PROVIDER_MODULE_VERSION KUBERNETES_SDK_MODULE_VERSION RANDOM_VERSION \
	RANDOM_PROVIDER_MODULE_VERSION RANDOM_UPSTREAM_MODULE_VERSION BUILD_RANDOM
# shellcheck disable=SC1090
source "$PINS"
for v in PULUMI_VERSION KUBERNETES_VERSION RANDOM_VERSION KUBERNETES_SDK_MODULE_VERSION; do
	[ -n "${!v:-}" ] || die "$v is empty in $PINS"
done
PYTHON_LANGUAGE_HOST_MODULE_VERSION=${PYTHON_LANGUAGE_HOST_MODULE_VERSION:-}
REQUIRE_PYTHON_LANGUAGE_HOST=${REQUIRE_PYTHON_LANGUAGE_HOST:-1}
KUBERNETES_PROVIDER_MODULE_VERSION=${KUBERNETES_PROVIDER_MODULE_VERSION:-}
RANDOM_PROVIDER_MODULE_VERSION=${RANDOM_PROVIDER_MODULE_VERSION:-}
RANDOM_UPSTREAM_MODULE_VERSION=${RANDOM_UPSTREAM_MODULE_VERSION:-}
BUILD_RANDOM=${BUILD_RANDOM:-1}
DEFAULT_PINS=0
[ "$(cd "$(dirname "$PINS")" && pwd)/$(basename "$PINS")" = "$HERE/versions.env" ] && DEFAULT_PINS=1

PKG=github.com/pulumi/pulumi/pkg/v3
SDK=github.com/pulumi/pulumi/sdk/v3
LANGHOST=github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3
K8S=github.com/pulumi/pulumi-kubernetes/provider/v4
K8S_SDK=github.com/pulumi/pulumi-kubernetes/sdk/v4
RANDOM_PROVIDER=github.com/pulumi/pulumi-random/provider/v4
RANDOM_SHIM=github.com/terraform-providers/terraform-provider-random/shim
RANDOM_UPSTREAM=github.com/terraform-providers/terraform-provider-random

# The cache key covers the pins, the committed lock files and the recipe.
key_inputs() {
	echo "recipe=$RECIPE"
	cat "$PINS"
	# Our own sources; go.mod/go.sum locks are derived from the pins (bump RECIPE if edited by hand).
	(cd "$HERE" && sha256sum pulumi-analyzer-policy-python random/shim/shim.go)
}
KEY=$(key_inputs | sha256sum | cut -c1-16)
CACHE_ROOT=${LLM_PLATFORM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-platform}
CACHE=$CACHE_ROOT/engine-$KEY
OUT=$ROOT/.tools/engine
BIN=$OUT/bin
PULUMI_HOME_DIR=$ROOT/.tools/pulumi-home
WORK=$ROOT/.tools/engine-work
mkdir -p "$OUT" "$CACHE_ROOT"

BINARIES="pulumi pulumi-resource-pulumi-python pulumi-analyzer-policy-python pulumi-resource-kubernetes"
[ "$BUILD_RANDOM" = 1 ] && BINARIES="$BINARIES pulumi-resource-random"
[ "$REQUIRE_PYTHON_LANGUAGE_HOST" = 1 ] && BINARIES="$BINARIES pulumi-language-python pulumi-language-python-exec"

# One build at a time per checkout (make up and pytest may both call this).
exec 9>"$OUT/.lock"
flock 9

engine_env() {
	export PULUMI_HOME=$PULUMI_HOME_DIR
	export PULUMI_SKIP_UPDATE_CHECK=1
	export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
	export PULUMI_IGNORE_AMBIENT_PLUGINS=true
	export PULUMI_DIY_BACKEND_NO_LEGACY_WARNING=1
}

is_installed() {
	[ -f "$OUT/stamp" ] && [ "$(cat "$OUT/stamp")" = "$KEY" ] || return 1
	for b in $BINARIES; do [ -x "$BIN/$b" ] || return 1; done
	[ "$("$BIN/pulumi" version 2>/dev/null)" = "v$PULUMI_VERSION" ] || return 1
}

if is_installed; then
	log "up to date: engine $KEY (pulumi v$PULUMI_VERSION, kubernetes $KUBERNETES_VERSION$([ "$BUILD_RANDOM" = 1 ] && echo ", random $RANDOM_VERSION")) in .tools/engine/bin"
	STEP=done
	exit 0
fi

# ---------------------------------------------------------------- toolchain
step "check go toolchain"
command -v go >/dev/null || die "go is not on PATH (install Go >= 1.26)"
export GOFLAGS=-mod=mod
# sum.golang.org is not reachable here; integrity comes from the committed go.sum files.
export GOSUMDB=${GOSUMDB:-off}
# A go.mod may ask for a newer Go; let the go command fetch it through the module proxy.
export GOTOOLCHAIN=${GOTOOLCHAIN_OVERRIDE:-auto}
export CGO_ENABLED=0
log "$(go version), GOPROXY=$(go env GOPROXY)"

json_field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get(sys.argv[1]) or "")' "$1"; }
json_path() { python3 -c 'import json,sys
d=json.load(sys.stdin)
for k in sys.argv[1].split("."):
    d=(d or {}).get(k)
print(d or "")' "$1"; }

# download MODULE@VERSION; prints the module directory; dies with the proxy's answer.
download() {
	local out err
	out=$(go mod download -json "$1" 2>&1) || true
	err=$(printf '%s' "$out" | json_field Error 2>/dev/null || printf '%s' "$out")
	if [ -n "$err" ]; then
		die "cannot fetch $1 from the Go module proxy: $err"
	fi
	printf '%s' "$out" | json_field Dir
}

# ---------------------------------------------------------------- restore from machine cache
restore() {
	step "restore from machine cache"
	rm -rf "$BIN.new" && mkdir -p "$BIN.new"
	for b in $BINARIES; do
		cp -l "$CACHE/bin/$b" "$BIN.new/$b" 2>/dev/null || cp -p "$CACHE/bin/$b" "$BIN.new/$b"
	done
	rm -rf "$BIN" && mv "$BIN.new" "$BIN"
}

register() {
	step "register plugins in PULUMI_HOME=.tools/pulumi-home"
	engine_env
	rm -rf "$PULUMI_HOME_DIR/plugins"
	mkdir -p "$PULUMI_HOME_DIR"
	"$BIN/pulumi" plugin install resource kubernetes "$KUBERNETES_VERSION" --file "$BIN/pulumi-resource-kubernetes" >/dev/null
	if [ "$BUILD_RANDOM" = 1 ]; then
		"$BIN/pulumi" plugin install resource random "$RANDOM_VERSION" --file "$BIN/pulumi-resource-random" >/dev/null
	fi
	# Without the Python language host the engine runs Python policy packs through
	# this analyzer shim (sdk/go/common/resource/plugin/analyzer_plugin.go fallback).
	"$BIN/pulumi" plugin install analyzer policy-python "$PULUMI_VERSION" --file "$BIN/pulumi-analyzer-policy-python" >/dev/null
	"$BIN/pulumi" plugin ls | sed 's/^/  /'
}

finish() {
	echo "$KEY" >"$OUT/stamp"
	cat >"$OUT/engine.env" <<EOF
# written by tools/engine/build.sh; key $KEY
ENGINE_KEY=$KEY
PULUMI_VERSION=$PULUMI_VERSION
KUBERNETES_VERSION=$KUBERNETES_VERSION
RANDOM_VERSION=$([ "$BUILD_RANDOM" = 1 ] && echo "$RANDOM_VERSION")
PYTHON_LANGUAGE_HOST=$([ -x "$BIN/pulumi-language-python" ] && echo 1 || echo 0)
EOF
	STEP=done
	log "done: $1 in $((SECONDS - T0))s (engine $KEY: $("$BIN/pulumi" version), .tools/engine/bin)"
}

if [ -f "$CACHE/complete" ]; then
	restore
	register
	finish "restored from $CACHE"
	exit 0
fi

# ---------------------------------------------------------------- build
log "building engine $KEY (cache miss: $CACHE)"
STAGE=$WORK/stage-$KEY
rm -rf "$STAGE" && mkdir -p "$STAGE/bin"

# Ask the proxy for every pinned module first, so one run names everything missing.
step "preflight: fetch pinned modules from the Go module proxy"
missing=""
want="$PKG@v$PULUMI_VERSION $SDK@v$PULUMI_VERSION $K8S_SDK@$KUBERNETES_SDK_MODULE_VERSION"
[ -n "$KUBERNETES_PROVIDER_MODULE_VERSION" ] && want="$want $K8S@$KUBERNETES_PROVIDER_MODULE_VERSION"
[ -z "$KUBERNETES_PROVIDER_MODULE_VERSION" ] && missing="$missing
  - $K8S: KUBERNETES_PROVIDER_MODULE_VERSION not pinned (commit of pulumi-kubernetes tag v$KUBERNETES_VERSION unknown)"
if [ "$BUILD_RANDOM" = 1 ]; then
	[ -n "$RANDOM_PROVIDER_MODULE_VERSION" ] && want="$want $RANDOM_PROVIDER@$RANDOM_PROVIDER_MODULE_VERSION"
	[ -z "$RANDOM_PROVIDER_MODULE_VERSION" ] && missing="$missing
  - $RANDOM_PROVIDER: RANDOM_PROVIDER_MODULE_VERSION not pinned (commit of pulumi-random tag v$RANDOM_VERSION unknown)"
fi
if [ "$REQUIRE_PYTHON_LANGUAGE_HOST" = 1 ]; then
	if [ -n "$PYTHON_LANGUAGE_HOST_MODULE_VERSION" ]; then
		want="$want $LANGHOST@$PYTHON_LANGUAGE_HOST_MODULE_VERSION"
	else
		log "  (language host $LANGHOST: resolved from the commit of tag pkg/v$PULUMI_VERSION after the preflight)"
	fi
fi
for m in $want; do
	out=$(go mod download -json "$m" 2>&1) || true
	err=$(printf '%s' "$out" | json_field Error 2>/dev/null || printf '%s' "$out")
	if [ -n "$err" ]; then
		missing="$missing
  - $m: $(printf '%s' "$err" | tr '\n\t' '  ' | sed -e 's/.*: \(40[0-9] [A-Za-z]*\) *server response: */\1: /' -e 's/  */ /g')"
	else
		log "  ok $m"
	fi
done
[ -z "$missing" ] || die "pinned modules not available:$missing"

step "fetch pulumi CLI module $PKG@v$PULUMI_VERSION"
PKG_DIR=$(download "$PKG@v$PULUMI_VERSION")
step "fetch pulumi SDK module $SDK@v$PULUMI_VERSION"
SDK_DIR=$(download "$SDK@v$PULUMI_VERSION")

LANGHOST_VERSION=""
if [ "$REQUIRE_PYTHON_LANGUAGE_HOST" = 1 ]; then
	step "resolve Python language host module $LANGHOST"
	LANGHOST_VERSION=$PYTHON_LANGUAGE_HOST_MODULE_VERSION
	if [ -z "$LANGHOST_VERSION" ]; then
		# No tags exist for this module: take the commit that tag pkg/v3.X.Y points at.
		rev=$(go mod download -json "$PKG@v$PULUMI_VERSION" | json_path Origin.Hash)
		[ -n "$rev" ] || die "the proxy gave no commit (Origin.Hash) for $PKG@v$PULUMI_VERSION; pin PYTHON_LANGUAGE_HOST_MODULE_VERSION in $PINS"
		LANGHOST_VERSION=$rev
	fi
	download "$LANGHOST@$LANGHOST_VERSION" >/dev/null
fi

step "build pulumi CLI v$PULUMI_VERSION"
CLI=$WORK/cli
rm -rf "$CLI" && mkdir -p "$CLI"
cp "$HERE/cli/go.mod" "$CLI/"
[ -f "$HERE/cli/go.sum" ] && cp "$HERE/cli/go.sum" "$CLI/"
(
	cd "$CLI"
	go mod edit -require="$PKG@v$PULUMI_VERSION" -require="$SDK@v$PULUMI_VERSION"
	# Replaces only apply in the main module: carry over upstream's non-local ones
	# (e.g. atotto/clipboard fork, golang.org/x/text) so the build matches theirs.
	for mod in "$PKG_DIR/go.mod" "$SDK_DIR/go.mod"; do
		go mod edit -json "$mod" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    if r["New"].get("Version"):
        old = r["Old"]["Path"] + ("@" + r["Old"]["Version"] if r["Old"].get("Version") else "")
        print("-replace=%s=%s@%s" % (old, r["New"]["Path"], r["New"]["Version"]))
' | xargs -r go mod edit
	done
	if [ -n "$LANGHOST_VERSION" ]; then
		go get -tool "$LANGHOST@$LANGHOST_VERSION"
		# go get may raise pkg/sdk (the host requires a stale pkg); keep the pins.
		go mod edit -require="$PKG@v$PULUMI_VERSION" -require="$SDK@v$PULUMI_VERSION"
	fi
	go mod tidy
	got=$(go list -m -f '{{.Version}}' "$PKG") && [ "$got" = "v$PULUMI_VERSION" ] || { echo "pkg/v3 resolved to $got, not v$PULUMI_VERSION" >&2; exit 1; }
	ld="-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$PULUMI_VERSION"
	nice -n 10 go build -trimpath -tags osusergo,grpcnotrace -ldflags "$ld" -o "$STAGE/bin/pulumi" "$PKG/cmd/pulumi"
	if [ -n "$LANGHOST_VERSION" ]; then
		nice -n 10 go build -trimpath -tags osusergo,grpcnotrace -ldflags "$ld" -o "$STAGE/bin/pulumi-language-python" "$LANGHOST"
	fi
)
[ "$("$STAGE/bin/pulumi" version)" = "v$PULUMI_VERSION" ] || die "built pulumi reports '$("$STAGE/bin/pulumi" version)', expected v$PULUMI_VERSION"
if [ "$DEFAULT_PINS" = 1 ]; then
	cp "$CLI/go.mod" "$CLI/go.sum" "$HERE/cli/"
else
	mkdir -p "$OUT/locks/cli" && cp "$CLI/go.mod" "$CLI/go.sum" "$OUT/locks/cli/"
fi

step "copy scripts from $SDK@v$PULUMI_VERSION"
if [ -n "$LANGHOST_VERSION" ]; then
	install -m 0755 "$SDK_DIR/python/cmd/pulumi-language-python-exec" "$STAGE/bin/"
fi
install -m 0755 "$SDK_DIR/python/dist/pulumi-resource-pulumi-python" "$STAGE/bin/"
install -m 0755 "$HERE/pulumi-analyzer-policy-python" "$STAGE/bin/"

# Copy MODULE@VERSION's source into a writable directory $2 and overlay committed locks from $3.
provider_source() {
	local dir=$1 dst=$2 locks=$3
	rm -rf "$dst" && mkdir -p "$(dirname "$dst")"
	cp -r "$dir" "$dst" && chmod -R u+w "$dst"
	if [ -f "$locks/go.mod" ] && [ "$DEFAULT_PINS" = 1 ]; then cp "$locks/go.mod" "$dst/go.mod"; fi
	if [ -f "$locks/go.sum" ] && [ "$DEFAULT_PINS" = 1 ]; then cp "$locks/go.sum" "$dst/go.sum"; fi
}
save_locks() {
	local src=$1 name=$2
	if [ "$DEFAULT_PINS" = 1 ]; then
		mkdir -p "$HERE/$name" && cp "$src/go.mod" "$src/go.sum" "$HERE/$name/"
	else
		mkdir -p "$OUT/locks/$name" && cp "$src/go.mod" "$src/go.sum" "$OUT/locks/$name/"
	fi
}

step "fetch kubernetes provider module $K8S@${KUBERNETES_PROVIDER_MODULE_VERSION:-<unpinned>}"
[ -n "$KUBERNETES_PROVIDER_MODULE_VERSION" ] || die "KUBERNETES_PROVIDER_MODULE_VERSION (pseudo-version of the commit of pulumi-kubernetes tag v$KUBERNETES_VERSION) is not pinned in $PINS"
K8S_DIR=$(download "$K8S@$KUBERNETES_PROVIDER_MODULE_VERSION")
download "$K8S_SDK@$KUBERNETES_SDK_MODULE_VERSION" >/dev/null

step "build pulumi-resource-kubernetes $KUBERNETES_VERSION"
KW=$WORK/kubernetes
provider_source "$K8S_DIR" "$KW" "$HERE/kubernetes"
(
	cd "$KW"
	# The provider replaces sdk/v4 with ../sdk (not in the module zip): use the tagged module.
	go mod edit -dropreplace="$K8S_SDK" -require="$K8S_SDK@$KUBERNETES_SDK_MODULE_VERSION"
	# schema-embed.json and terraform-mapping-embed.json are git-ignored upstream: generate them.
	(cd cmd/pulumi-resource-kubernetes && VERSION=$KUBERNETES_VERSION nice -n 10 go generate)
	nice -n 10 go build -trimpath -ldflags "-s -w -X $K8S/pkg/version.Version=$KUBERNETES_VERSION" \
		-o "$STAGE/bin/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes
)
save_locks "$KW" kubernetes

if [ "$BUILD_RANDOM" = 1 ]; then
	step "fetch random provider module $RANDOM_PROVIDER@${RANDOM_PROVIDER_MODULE_VERSION:-<unpinned>}"
	[ -n "$RANDOM_PROVIDER_MODULE_VERSION" ] || die "RANDOM_PROVIDER_MODULE_VERSION (pseudo-version of the commit of pulumi-random tag v$RANDOM_VERSION) is not pinned in $PINS"
	[ -n "$RANDOM_UPSTREAM_MODULE_VERSION" ] || die "RANDOM_UPSTREAM_MODULE_VERSION (terraform-provider-random required by provider/shim/go.mod at v$RANDOM_VERSION) is not pinned in $PINS"
	RANDOM_DIR=$(download "$RANDOM_PROVIDER@$RANDOM_PROVIDER_MODULE_VERSION")
	step "build pulumi-resource-random $RANDOM_VERSION"
	RW=$WORK/random
	provider_source "$RANDOM_DIR" "$RW" "$HERE/random"
	(
		cd "$RW"
		# ./shim is a nested module, so the provider zip lacks it: recreate it from our copy.
		rm -rf shim && mkdir shim
		cp "$HERE/random/shim/shim.go" "$HERE/random/shim/go.mod" shim/
		[ -f "$HERE/random/shim/go.sum" ] && [ "$DEFAULT_PINS" = 1 ] && cp "$HERE/random/shim/go.sum" shim/
		(cd shim && go mod edit -require="$RANDOM_UPSTREAM@$RANDOM_UPSTREAM_MODULE_VERSION" && go mod tidy)
		(cd cmd/pulumi-resource-random && VERSION=$RANDOM_VERSION nice -n 10 go generate)
		nice -n 10 go build -trimpath -ldflags "-s -w -X $RANDOM_PROVIDER/pkg/version.Version=$RANDOM_VERSION" \
			-o "$STAGE/bin/pulumi-resource-random" ./cmd/pulumi-resource-random
	)
	save_locks "$RW" random
	[ "$DEFAULT_PINS" = 1 ] && cp "$RW/shim/go.mod" "$RW/shim/go.sum" "$HERE/random/shim/"
fi

step "store in machine cache $CACHE"
rm -rf "$CACHE.tmp" && mkdir -p "$CACHE.tmp"
cp -r "$STAGE/bin" "$CACHE.tmp/bin"
(cd "$CACHE.tmp/bin" && sha256sum -- * >../SHA256SUMS)
{ cat "$PINS"; echo "LANGHOST_MODULE=$LANGHOST_VERSION"; echo "built=$(date -u +%FT%TZ) in $((SECONDS - T0))s"; } >"$CACHE.tmp/pins"
touch "$CACHE.tmp/complete"
rm -rf "$CACHE" && mv "$CACHE.tmp" "$CACHE"
rm -rf "$STAGE"

restore
register
finish "built from Go modules"
