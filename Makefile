# Two commands do all setup on a fresh machine:
#   make up     # run the platform program on STACK (default: local) through the real Pulumi engine
#   make test   # the whole test suite
# Everything they need (virtualenv, pinned packages, engine built from Go modules) is
# installed on first use and reused afterwards.

STACK ?= local
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed-requirements

.PHONY: up preview policy destroy synth synth-all plan test test-tools venv engine kube haproxy bench bench-lora bench-gate vllm vllm-argspec vllm-argspec-check clean

# The project itself is installed editable (pyproject.toml) without dependencies: requirements.txt
# pins those; `import components` then works from any directory, the policy pack's included.
$(VENV_STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip==24.3.1
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@cp requirements.txt $(VENV_STAMP)

venv: $(VENV_STAMP)

engine: venv
	bash tools/engine/build.sh

# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok for the
# integration tests (make test builds or restores them itself when they are missing).
kube:
	bash tools/kube/build.sh

# Debian's haproxy 2.6 for the gate tests and bench-gate (the tests install it themselves too).
haproxy:
	bash tools/haproxy/install.sh

# The engine builds itself on first use (tools/engine/build.sh, cached per machine).
up: venv
	$(PY) -m infra.engine up --stack $(STACK)

# The stack's policy levels (advisory/mandatory, overrides) and facts reach the pack
# through --policy-pack-config, the same JSON the in-process PR check reads.
preview: venv
	$(PY) -m infra.policy_check --stack $(STACK) --no-check --pack-config out/policy/$(STACK).json
	$(PY) -m infra.engine preview --stack $(STACK) --policy-pack policies --policy-pack-config out/policy/$(STACK).json

policy: venv
	$(PY) -m infra.synth --stack $(STACK) --out out/synth/$(STACK) --policy

destroy: venv
	$(PY) -m infra.engine destroy --stack $(STACK)

synth: venv
	$(PY) -m infra.synth --stack $(STACK) --out out/synth/$(STACK)

synth-all: venv
	$(PY) -m infra.synth --all --out out/synth

plan: venv
	$(PY) -m infra.plan --stack $(STACK)

# The integration tests' binaries first (control plane, Helm, LWS, KServe, Karpenter), each
# build printing its progress; a no-op or a cache restore after the first run.
test: venv test-tools
	$(PY) -m pytest

test-tools:
	bash tools/test-tools.sh

bench: venv
	$(PY) bench/synth_scale.py

# A real vLLM (CPU build) in a per-machine environment, for tests/realvllm and bench-lora
# (make test installs it on first use too).
vllm:
	bash tools/vllm/install.sh

# components/models/vllm_argspec/vllm-<version>.json dumped from vLLM's real parser, and the
# check tests/realvllm runs (stale spec, or check_args disagreeing with parse_args: exit 1).
vllm-argspec:
	bash tools/vllm-argspec/install.sh dump
vllm-argspec-check:
	bash tools/vllm-argspec/install.sh check

# Adapter go-live/revoke latency over >= 20 changes on 2 real vLLM replicas, the registry
# watched through a real API server (tools/kube/build.sh, cached); last lines
# go_live_p95_s=, revoke_p95_s=, restarts=.
bench-lora: venv vllm
	$(PY) bench/lora_rollout.py
# Latency the tenant gate adds in front of a real vLLM (tiny CPU model), p50/p99.
bench-gate: venv
	$(PY) bench/gate_latency.py

clean:
	rm -rf out .pytest_cache
