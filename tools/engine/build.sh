#!/usr/bin/env bash
# Build the Pulumi engine from Go modules, pinned and cached, for `make up` and the tests.
#
#   tools/engine/build.sh            build (or restore) and register; no-op when up to date
#   ENGINE_PINS=FILE build.sh        use another pins file (default tools/engine/versions.env)
#
# Produces (all under the git-ignored .tools/):
#   .tools/engine/bin/pulumi                          CLI, version stamped = PULUMI_VERSION
#   .tools/engine/bin/pulumi-resource-pulumi-python   dynamic-provider shim (from sdk/v3)
#   .tools/engine/bin/pulumi-resource-kubernetes      provider, version = KUBERNETES_VERSION
#   .tools/engine/bin/pulumi-resource-random          this project's bridge (tools/engine/random)
#   .tools/pulumi-home/plugins/...                    providers registered with `pulumi plugin install --file`
# Each of the three Go builds (cli, kubernetes, random) is its own build module, so that
# minimal version selection never raises a provider's pulumi dependencies to the CLI's,
# and its own machine-level cache entry keyed by its pins and sources, so a fresh clone
# restores in seconds and changing one pin rebuilds one binary:
#   ${LLM_PLATFORM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-platform}/engine-<name>-<key>/
# Go compiles run under `flock /tmp/llm-platform-heavy.lock nice -n 10` (other builds share
# the cores). Only the Go module proxy is used. A failure names the step that failed.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
PINS=${ENGINE_PINS:-$HERE/versions.env}
# Bump when the recipe below changes in a way that changes the binaries.
RECIPE=5
HEAVY_LOCK=/tmp/llm-platform-heavy.lock
PYTHON=${ENGINE_PYTHON:-$ROOT/.venv/bin/python}

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

# heavy LABEL CMD...: run a compile under the shared heavy-build lock at low priority,
# saying when it waits for the lock and, every minute, that it is still running.
heavy() {
	local label=$1 rc=0 hb
	shift
	if ! flock -n "$HEAVY_LOCK" true; then
		log "  $label: waiting for $HEAVY_LOCK (another heavy build is running)"
	fi
	(
		start=$SECONDS
		while sleep 60; do
			kill -0 "$$" 2>/dev/null || exit 0
			log "  $label: still running ($((SECONDS - start))s)"
		done
	) &
	hb=$!
	flock "$HEAVY_LOCK" nice -n 10 "$@" || rc=$?
	kill "$hb" 2>/dev/null || true
	wait "$hb" 2>/dev/null || true
	return $rc
}

# ---------------------------------------------------------------- pins
step "read pins"
[ -f "$PINS" ] || die "pins file $PINS not found"
PIN_NAMES="PULUMI_VERSION KUBERNETES_VERSION KUBERNETES_PROVIDER_MODULE_VERSION KUBERNETES_SDK_MODULE_VERSION
	RANDOM_VERSION RANDOM_UPSTREAM_MODULE_VERSION TERRAFORM_BRIDGE_VERSION TERRAFORM_PLUGIN_SDK_FORK_VERSION"
# shellcheck disable=SC2086
unset $PIN_NAMES
# shellcheck disable=SC1090
source "$PINS"
for v in $PIN_NAMES; do
	[ -n "${!v:-}" ] || die "$v is empty in $PINS"
done
DEFAULT_PINS=0
[ "$(cd "$(dirname "$PINS")" && pwd)/$(basename "$PINS")" = "$HERE/versions.env" ] && DEFAULT_PINS=1

PKG=github.com/pulumi/pulumi/pkg/v3
SDK=github.com/pulumi/pulumi/sdk/v3
K8S=github.com/pulumi/pulumi-kubernetes/provider/v4
K8S_SDK=github.com/pulumi/pulumi-kubernetes/sdk/v4
BRIDGE=github.com/pulumi/pulumi-terraform-bridge/v3
TF_SDK=github.com/hashicorp/terraform-plugin-sdk/v2
TF_SDK_FORK=github.com/pulumi/terraform-plugin-sdk/v2
RANDOM_UPSTREAM=github.com/terraform-providers/terraform-provider-random
RANDOM_MODULE=llm-platform/tools/engine/random

# Cache keys: the recipe, the component's pins and this project's own sources for it. The
# committed go.mod/go.sum locks are derived from the pins (bump RECIPE if edited by hand).
key_of() { { echo "recipe=$RECIPE"; cat; } | sha256sum | cut -c1-16; }
CLI_KEY=$(printf 'pulumi=%s\n' "$PULUMI_VERSION" | key_of)
K8S_KEY=$(printf 'kubernetes=%s %s %s\n' "$KUBERNETES_VERSION" "$KUBERNETES_PROVIDER_MODULE_VERSION" \
	"$KUBERNETES_SDK_MODULE_VERSION" | key_of)
RANDOM_KEY=$({
	printf 'random=%s %s %s %s\n' "$RANDOM_VERSION" "$RANDOM_UPSTREAM_MODULE_VERSION" "$TERRAFORM_BRIDGE_VERSION" \
		"$TERRAFORM_PLUGIN_SDK_FORK_VERSION"
	(cd "$HERE/random" && find . -name '*.go' | LC_ALL=C sort | xargs sha256sum)
} | key_of)
KEY=$(printf '%s\n' "$CLI_KEY" "$K8S_KEY" "$RANDOM_KEY" | key_of)

CACHE_ROOT=${LLM_PLATFORM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-platform}
OUT=$ROOT/.tools/engine
BIN=$OUT/bin
PULUMI_HOME_DIR=$ROOT/.tools/pulumi-home
WORK=$ROOT/.tools/engine-work
mkdir -p "$OUT" "$CACHE_ROOT"

BINARIES="pulumi pulumi-resource-pulumi-python pulumi-resource-kubernetes pulumi-resource-random"

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
	log "up to date: engine $KEY (pulumi v$PULUMI_VERSION, kubernetes $KUBERNETES_VERSION, random $RANDOM_VERSION) in .tools/engine/bin"
	STEP=done
	exit 0
fi

# ---------------------------------------------------------------- toolchain
toolchain() {
	[ -n "${TOOLCHAIN_CHECKED:-}" ] && return 0
	step "check go toolchain"
	command -v go >/dev/null || die "go is not on PATH (install Go >= 1.26)"
	export GOFLAGS=-mod=mod
	# sum.golang.org is not reachable here; integrity comes from the committed go.sum files.
	export GOSUMDB=${GOSUMDB:-off}
	# A go.mod may ask for a newer Go; let the go command fetch it through the module proxy.
	export GOTOOLCHAIN=${GOTOOLCHAIN_OVERRIDE:-auto}
	export CGO_ENABLED=0
	log "$(go version), GOPROXY=$(go env GOPROXY)"
	TOOLCHAIN_CHECKED=1
}

json_field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get(sys.argv[1]) or "")' "$1"; }

# download MODULE@VERSION; prints the module directory; dies with the proxy's answer.
download() {
	local out err
	out=$(go mod download -json "$1" 2>&1) || true
	err=$(printf '%s' "$out" | json_field Error 2>/dev/null || printf '%s' "$out")
	[ -z "$err" ] || die "cannot fetch $1 from the Go module proxy: $err"
	printf '%s' "$out" | json_field Dir
}

# Go module locks: committed next to the build module when the default pins are used,
# otherwise kept in .tools/engine/locks/ (never overwriting the committed ones).
save_locks() {
	local src=$1 name=$2 dst
	if [ "$DEFAULT_PINS" = 1 ]; then dst=$HERE/$name; else dst=$OUT/locks/$name; fi
	mkdir -p "$dst" && cp "$src/go.mod" "$src/go.sum" "$dst/"
}
use_locks() {
	local dst=$1 name=$2
	[ "$DEFAULT_PINS" = 1 ] || return 0
	for f in go.mod go.sum; do [ -f "$HERE/$name/$f" ] && cp "$HERE/$name/$f" "$dst/$f"; done
	return 0
}

# cached NAME KEY: is this component's build in the machine cache?
cached() { [ -f "$CACHE_ROOT/engine-$1-$2/complete" ]; }
# store NAME KEY DIR: put DIR's files into the machine cache atomically.
store() {
	local entry=$CACHE_ROOT/engine-$1-$2
	rm -rf "$entry.tmp" && mkdir -p "$entry.tmp"
	cp -p "$3"/* "$entry.tmp/"
	(cd "$entry.tmp" && sha256sum -- * >SHA256SUMS)
	{ cat "$PINS"; echo "built=$(date -u +%FT%TZ) in $((SECONDS - T0))s"; } >"$entry.tmp/pins"
	touch "$entry.tmp/complete"
	rm -rf "$entry" && mv "$entry.tmp" "$entry"
}

# ---------------------------------------------------------------- pulumi CLI
build_cli() {
	toolchain
	local stage=$WORK/stage-cli dir=$WORK/cli pkg_dir sdk_dir
	rm -rf "$stage" "$dir" && mkdir -p "$stage" "$dir"
	step "fetch $PKG@v$PULUMI_VERSION and $SDK@v$PULUMI_VERSION"
	pkg_dir=$(download "$PKG@v$PULUMI_VERSION")
	sdk_dir=$(download "$SDK@v$PULUMI_VERSION")
	step "build pulumi CLI v$PULUMI_VERSION"
	cp "$HERE/cli/go.mod" "$dir/"
	use_locks "$dir" cli
	(
		cd "$dir"
		go mod edit -require="$PKG@v$PULUMI_VERSION" -require="$SDK@v$PULUMI_VERSION"
		# Replaces only apply in the main module: carry over upstream's non-local ones
		# (the atotto/clipboard fork, golang.org/x/text) so the build matches theirs.
		for mod in "$pkg_dir/go.mod" "$sdk_dir/go.mod"; do
			go mod edit -json "$mod" | python3 -c '
import json, sys
for r in json.load(sys.stdin).get("Replace") or []:
    if r["New"].get("Version"):
        old = r["Old"]["Path"] + ("@" + r["Old"]["Version"] if r["Old"].get("Version") else "")
        print("-replace=%s=%s@%s" % (old, r["New"]["Path"], r["New"]["Version"]))
' | xargs -r go mod edit
		done
		go mod tidy
		got=$(go list -m -f '{{.Version}}' "$PKG")
		[ "$got" = "v$PULUMI_VERSION" ] || { echo "pkg/v3 resolved to $got, not v$PULUMI_VERSION" >&2; exit 1; }
		heavy "go build pulumi (about 5 min on 2 idle cores)" go build -trimpath -tags osusergo,grpcnotrace \
			-ldflags "-s -w -X $SDK/go/common/version.Version=v$PULUMI_VERSION" -o "$stage/pulumi" "$PKG/cmd/pulumi"
	)
	[ "$("$stage/pulumi" version)" = "v$PULUMI_VERSION" ] || die "built pulumi reports '$("$stage/pulumi" version)', expected v$PULUMI_VERSION"
	save_locks "$dir" cli
	# Runs dynamic providers (the adapter publisher) with the program's Python; the
	# engine finds it next to the CLI as a bundled plugin.
	install -m 0755 "$sdk_dir/python/dist/pulumi-resource-pulumi-python" "$stage/"
	store cli "$CLI_KEY" "$stage"
	rm -rf "$stage"
}

# ---------------------------------------------------------------- pulumi-resource-kubernetes
build_kubernetes() {
	toolchain
	local stage=$WORK/stage-kubernetes dir=$WORK/kubernetes src
	rm -rf "$stage" && mkdir -p "$stage"
	step "fetch $K8S@$KUBERNETES_PROVIDER_MODULE_VERSION"
	src=$(download "$K8S@$KUBERNETES_PROVIDER_MODULE_VERSION")
	download "$K8S_SDK@$KUBERNETES_SDK_MODULE_VERSION" >/dev/null
	step "build pulumi-resource-kubernetes $KUBERNETES_VERSION"
	rm -rf "$dir" && cp -r "$src" "$dir" && chmod -R u+w "$dir"
	use_locks "$dir" kubernetes
	(
		cd "$dir"
		go mod edit -dropreplace="$K8S_SDK" -require="$K8S_SDK@$KUBERNETES_SDK_MODULE_VERSION"
		go mod tidy
		# schema-embed.json and terraform-mapping-embed.json are git-ignored upstream: generate them.
		(cd cmd/pulumi-resource-kubernetes && export VERSION=$KUBERNETES_VERSION && heavy "go generate (schema-embed)" go generate)
		heavy "go build pulumi-resource-kubernetes (about 25 min on 2 idle cores)" go build -trimpath \
			-ldflags "-s -w -X $K8S/pkg/version.Version=$KUBERNETES_VERSION" \
			-o "$stage/pulumi-resource-kubernetes" ./cmd/pulumi-resource-kubernetes
	)
	save_locks "$dir" kubernetes
	store kubernetes "$K8S_KEY" "$stage"
	rm -rf "$stage"
}

# ---------------------------------------------------------------- pulumi-resource-random
build_random() {
	toolchain
	local stage=$WORK/stage-random dir=$WORK/random ld upstream
	[ -x "$PYTHON" ] || die "$PYTHON not found: the schema check needs the project's virtualenv (make venv)"
	rm -rf "$stage" "$dir" && mkdir -p "$stage"
	step "fetch $RANDOM_UPSTREAM@$RANDOM_UPSTREAM_MODULE_VERSION and $BRIDGE@$TERRAFORM_BRIDGE_VERSION"
	upstream=$(download "$RANDOM_UPSTREAM@$RANDOM_UPSTREAM_MODULE_VERSION")
	download "$BRIDGE@$TERRAFORM_BRIDGE_VERSION" >/dev/null
	download "$TF_SDK_FORK@$TERRAFORM_PLUGIN_SDK_FORK_VERSION" >/dev/null
	step "build pulumi-resource-random $RANDOM_VERSION (bridged terraform-provider-random)"
	cp -r "$HERE/random" "$dir"
	rm -f "$dir/check_schema.py"
	ld="-s -w -X $RANDOM_MODULE.Version=$RANDOM_VERSION"
	(
		cd "$dir/shim"
		go mod edit -require="$RANDOM_UPSTREAM@$RANDOM_UPSTREAM_MODULE_VERSION"
		go mod tidy
		cd "$dir"
		go mod edit -require="$BRIDGE@$TERRAFORM_BRIDGE_VERSION" \
			-replace="$TF_SDK=$TF_SDK_FORK@$TERRAFORM_PLUGIN_SDK_FORK_VERSION"
		go mod tidy
		heavy "go build pulumi-tfgen-random (about 10 min on 2 idle cores)" go build -trimpath -ldflags "$ld" \
			-o "$dir/pulumi-tfgen-random" ./cmd/pulumi-tfgen-random
		# The package schema and bridge metadata the provider embeds, descriptions from the
		# upstream docs; HCL example conversion is off (it needs converter plugins).
		RANDOM_UPSTREAM_DIR=$upstream "$dir/pulumi-tfgen-random" schema --out cmd/pulumi-resource-random --skip-examples
		"$PYTHON" "$HERE/random/check_schema.py" cmd/pulumi-resource-random/schema.json
		heavy "go build pulumi-resource-random" go build -trimpath -ldflags "$ld" \
			-o "$stage/pulumi-resource-random" ./cmd/pulumi-resource-random
		cp cmd/pulumi-resource-random/schema.json "$stage/schema-random.json"
	)
	[ "$("$stage/pulumi-resource-random" -version)" = "$RANDOM_VERSION" ] || die "built pulumi-resource-random reports '$("$stage/pulumi-resource-random" -version)', expected $RANDOM_VERSION"
	save_locks "$dir" random
	save_locks "$dir/shim" random/shim
	store random "$RANDOM_KEY" "$stage"
	rm -rf "$stage"
}

# ---------------------------------------------------------------- assemble
log "engine $KEY: cli $CLI_KEY, kubernetes $K8S_KEY, random $RANDOM_KEY (cache $CACHE_ROOT)"
# The CLI first: it is the quickest build and everything else needs it.
for component in cli:$CLI_KEY kubernetes:$K8S_KEY random:$RANDOM_KEY; do
	name=${component%%:*} key=${component#*:}
	if cached "$name" "$key"; then
		log "$name: in the machine cache (engine-$name-$key)"
	else
		log "$name: not in the machine cache: building from Go modules"
		"build_$name"
	fi
done

step "install into .tools/engine/bin"
rm -rf "$BIN.new" && mkdir -p "$BIN.new"
for name in cli:$CLI_KEY kubernetes:$K8S_KEY random:$RANDOM_KEY; do
	entry=$CACHE_ROOT/engine-${name%%:*}-${name#*:}
	for f in "$entry"/*; do
		case $(basename "$f") in complete | pins | SHA256SUMS) continue ;; esac
		cp -l "$f" "$BIN.new/" 2>/dev/null || cp -p "$f" "$BIN.new/"
	done
done
rm -rf "$BIN" && mv "$BIN.new" "$BIN"

step "register plugins in PULUMI_HOME=.tools/pulumi-home"
engine_env
rm -rf "$PULUMI_HOME_DIR/plugins"
mkdir -p "$PULUMI_HOME_DIR"
"$BIN/pulumi" plugin install resource kubernetes "$KUBERNETES_VERSION" --file "$BIN/pulumi-resource-kubernetes" >/dev/null
"$BIN/pulumi" plugin install resource random "$RANDOM_VERSION" --file "$BIN/pulumi-resource-random" >/dev/null
# Python policy packs run without a language host through infra.engine.policy_pack_launcher.
"$BIN/pulumi" plugin ls | sed 's/^/  /'

echo "$KEY" >"$OUT/stamp"
cat >"$OUT/engine.env" <<EOF
# written by tools/engine/build.sh; key $KEY
ENGINE_KEY=$KEY
CLI_KEY=$CLI_KEY
KUBERNETES_KEY=$K8S_KEY
RANDOM_KEY=$RANDOM_KEY
PULUMI_VERSION=$PULUMI_VERSION
KUBERNETES_VERSION=$KUBERNETES_VERSION
RANDOM_VERSION=$RANDOM_VERSION
EOF
STEP=done
log "done in $((SECONDS - T0))s (engine $KEY: pulumi $("$BIN/pulumi" version), kubernetes $KUBERNETES_VERSION, random $RANDOM_VERSION in .tools/engine/bin)"
