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

.PHONY: up preview destroy synth synth-all plan test venv engine bench clean

$(VENV_STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check --upgrade pip==24.3.1
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@cp requirements.txt $(VENV_STAMP)

venv: $(VENV_STAMP)

engine: venv
	bash tools/engine/build.sh

# The engine builds itself on first use; on a render stack where it cannot be built
# (see README "The engine") the same manifests are rendered by offline synthesis, said loudly.
up: venv
	$(PY) -m infra.engine up --stack $(STACK) --synth-fallback

preview: venv engine
	$(PY) -m infra.engine preview --stack $(STACK) --policy-pack policies

destroy: venv engine
	$(PY) -m infra.engine destroy --stack $(STACK)

synth: venv
	$(PY) -m infra.synth --stack $(STACK) --out out/synth/$(STACK)

synth-all: venv
	$(PY) -m infra.synth --all --out out/synth

plan: venv
	$(PY) -m infra.plan --stack $(STACK)

test: venv
	$(PY) -m pytest

bench: venv
	$(PY) bench/synth_scale.py

clean:
	rm -rf out .pytest_cache
