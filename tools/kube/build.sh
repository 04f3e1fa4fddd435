#!/usr/bin/env bash
# Build the local Kubernetes control plane used by tests/integration from Go
# modules (no release downloads): etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and kwok, at the versions pinned in tools/kube/versions.env
# and the wrapper modules tools/kube/{k8s,etcd,kwok}/go.{mod,sum}.
#
#   tools/kube/build.sh            build (or restore from cache) into .tools/kube/bin
#   tools/kube/build.sh --print-bin-dir   print the bin dir and exit
#
# Binaries land in <repo>/.tools/kube/bin (ignored). A machine-level cache,
# keyed by every input that changes the output (versions, wrapper go.mod/go.sum,
# Go version, GOOS/GOARCH, flags), lives in
#   ${LLM_PLATFORM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-platform}/kube-<key>/
# so a fresh clone on the same machine restores instantly and a second run is a
# no-op. Go builds run under `nice -n 10` with CGO disabled, -trimpath and
# stripped symbols to spare the two shared cores and the disk.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin_dir="$repo/.tools/kube/bin"

if [[ "${1:-}" == "--print-bin-dir" ]]; then
  echo "$bin_dir"
  exit 0
fi

# shellcheck source=versions.env
source "$here/versions.env"

BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
# kwok has no built-in behaviour: its node/pod lifecycle comes from Stage
# objects. These are kwok's own default stages (what kwokctl uses), taken from
# the same module version we build, concatenated into bin/kwok-stages.yaml.
KWOK_STAGES=(
  kustomize/stage/node/fast/node-initialize.yaml
  kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml
  kustomize/stage/pod/fast/pod-ready.yaml
  kustomize/stage/pod/fast/pod-complete.yaml
  kustomize/stage/pod/fast/pod-delete.yaml
)

current_step="init"
step_start=0
script_start=$SECONDS
step() {
  current_step="$1"
  step_start=$SECONDS
  printf '==> [kube-build] %s\n' "$1"
}
step_done() {
  printf '    [kube-build] %s: done in %ss\n' "$current_step" "$((SECONDS - step_start))"
}
on_error() {
  local rc=$?
  printf 'ERROR [kube-build] step "%s" failed (exit %s) after %ss; see the output above.\n' \
    "$current_step" "$rc" "$((SECONDS - step_start))" >&2
  exit "$rc"
}
trap on_error ERR

step "check toolchain"
command -v go >/dev/null || { echo "go not found on PATH (need Go >= the wrappers' go directive)" >&2; false; }
export GOTOOLCHAIN=local   # never fetch a toolchain; use the machine's Go
export CGO_ENABLED=0
export GOFLAGS="-mod=readonly -buildvcs=false"
go_version="$(go env GOVERSION)"
goos="$(go env GOOS)"
goarch="$(go env GOARCH)"
for mod in k8s etcd kwok; do
  need="$(sed -n 's/^go \([0-9.]*\).*/\1/p' "$here/$mod/go.mod")"
  have="${go_version#go}"
  if [[ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -n1)" != "$need" ]]; then
    echo "Go $have is older than $need required by tools/kube/$mod/go.mod" >&2
    false
  fi
done
echo "    $go_version $goos/$goarch; kubernetes $KUBE_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION"
step_done

# Kubernetes version stamping, as hack/lib/version.sh does, so /version reports
# the real release (clients such as pulumi-kubernetes read it).
kube_minor="${KUBE_VERSION#v1.}"
kube_minor="${kube_minor%%.*}"
kube_ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ldflags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kube_minor"
  kube_ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
done
plain_ldflags="-s -w"
kwok_ldflags="-s -w"   # kwok pins its own version in pkg/consts

step "compute cache key"
key_input="$(
  cat "$here/versions.env"
  echo "layout=2 kube_ldflags=$kube_ldflags plain_ldflags=$plain_ldflags kwok_ldflags=$kwok_ldflags"
  printf '%s\n' "${KWOK_STAGES[@]}"
  for mod in k8s etcd kwok; do cat "$here/$mod/go.mod" "$here/$mod/go.sum"; done
  echo "$go_version $goos $goarch CGO_ENABLED=$CGO_ENABLED"
)"
key="$(printf '%s' "$key_input" | sha256sum | cut -c1-16)"
cache_root="${LLM_PLATFORM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-platform}"
cache_dir="$cache_root/kube-$KUBE_VERSION-$key"
echo "    key $key; cache $cache_dir"
step_done

have_all() {
  local d="$1" b
  for b in "${BINARIES[@]}"; do [[ -x "$d/$b" ]] || return 1; done
  [[ -s "$d/kwok-stages.yaml" ]]
}

if have_all "$bin_dir" && [[ "$(cat "$bin_dir/.key" 2>/dev/null || true)" == "$key" ]]; then
  echo "==> [kube-build] up to date: $bin_dir (key $key), nothing to do"
  exit 0
fi

mkdir -p "$cache_root"
# One build per key at a time on this machine (a second caller waits, then
# finds the cache filled); bounded so a wedged build cannot block forever.
exec 9>"$cache_root/kube-$KUBE_VERSION-$key.lock"
if ! flock -n 9; then
  step "wait for another build.sh holding $cache_root/kube-$KUBE_VERSION-$key.lock"
  flock -w "${LLM_PLATFORM_KUBE_LOCK_TIMEOUT:-3600}" 9
  step_done
fi
# Leftovers of builds killed outright (SIGKILL skips the EXIT trap).
find "$cache_root" -maxdepth 1 -name '.kube-build.*' -mmin +240 -exec rm -rf {} + 2>/dev/null || true

if ! have_all "$cache_dir/bin"; then
  stage="$(mktemp -d "$cache_root/.kube-build.XXXXXX")"
  trap 'rm -rf "$stage"' EXIT
  mkdir -p "$stage/bin"

  gobuild() { # <module dir> <ldflags> <output (file or dir/)> <packages...>
    local dir="$1" ldflags="$2" out="$3"
    shift 3
    (cd "$here/$dir" && nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$out" "$@")
  }

  step "download modules"
  for mod in k8s etcd kwok; do (cd "$here/$mod" && go mod download); done
  step_done

  step "build etcd $ETCD_VERSION"
  gobuild etcd "$plain_ldflags" "$stage/bin/etcd" go.etcd.io/etcd/server/v3
  step_done

  step "build kube-apiserver kube-controller-manager kube-scheduler $KUBE_VERSION"
  gobuild k8s "$kube_ldflags" "$stage/bin/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler
  step_done

  step "build kwok $KWOK_VERSION"
  gobuild kwok "$kwok_ldflags" "$stage/bin/kwok" sigs.k8s.io/kwok/cmd/kwok
  step_done

  step "collect kwok default stages"
  kwok_src="$(cd "$here/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
  sep=""
  for f in "${KWOK_STAGES[@]}"; do
    [[ -n "$sep" ]] && echo "$sep"
    sep="---"
    echo "# from sigs.k8s.io/kwok@$KWOK_VERSION/$f"
    cat "$kwok_src/$f"
  done >"$stage/bin/kwok-stages.yaml"
  step_done

  step "store in machine cache"
  have_all "$stage/bin"
  printf '%s\n' "$key" >"$stage/bin/.key"
  printf '%s\n' "$key_input" >"$stage/key-input.txt"
  rm -rf "$cache_dir"
  mv "$stage" "$cache_dir"   # atomic on one filesystem: a half build is never cached
  trap - EXIT
  step_done
else
  echo "==> [kube-build] cache hit: $cache_dir"
fi

step "install into $bin_dir"
rm -rf "$bin_dir"
mkdir -p "$bin_dir"
for b in "${BINARIES[@]}" kwok-stages.yaml; do
  # Hard links cost nothing when the cache is on the same filesystem.
  ln "$cache_dir/bin/$b" "$bin_dir/$b" 2>/dev/null || cp "$cache_dir/bin/$b" "$bin_dir/$b"
done
printf '%s\n' "$key" >"$bin_dir/.key"
step_done

echo "==> [kube-build] ready in $((SECONDS - script_start))s: $bin_dir"
ls -l "$bin_dir"
