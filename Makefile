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

.PHONY: up preview policy destroy synth synth-all plan test test-tools venv engine kube bench clean

$(VENV_STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip==24.3.1
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@cp requirements.txt $(VENV_STAMP)

venv: $(VENV_STAMP)

engine: venv
	bash tools/engine/build.sh

# etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok for the
# integration tests (make test builds or restores them itself when they are missing).
kube:
	bash tools/kube/build.sh

# The engine builds itself on first use; on a render stack where it cannot be built
# (see README "The engine") the same manifests are rendered by offline synthesis, said loudly.
up: venv
	$(PY) -m infra.engine up --stack $(STACK) --synth-fallback

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

clean:
	rm -rf out .pytest_cache
