# squaremcp.infra — the two commands a user needs: `make demo` and `make test`.
# Every target installs what it needs itself (Python venv, dependency collections, Docker engine,
# Compose v2, locally built images). Nothing here needs Galaxy, a registry or GitHub.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export NO_COLOR ?= 1
export ANSIBLE_NOCOLOR ?= 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1
ANSIBLE_BUNDLE ?= 12.3.0
COLLECTIONS := .collections/ansible_collections
SCENARIOS ?= $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
PIP_QUIET := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: help venv collections engine images lint yamllint ansible-lint sanity unit integration integration-fast \
        repo-check molecule $(addprefix molecule-,$(SCENARIOS)) test test-fast demo build clean drift

help:
	@echo "make demo       converge a local lab host with site.yml over SSH (twice: the second run must change nothing)"
	@echo "                FAST=1: with the Mitogen strategy"
	@echo "make demo-ha    the same for the multi-host lab (2 edges with a floating IP, 1 monitoring host) + a failover"
	@echo "make test       the full suite: lint, sanity, unit, integration, every Molecule scenario"
	@echo "make test-fast  lint, sanity, unit and the integration tests not marked slow (minutes)"
	@echo "make molecule-<scenario>  one scenario: $(SCENARIOS)"
	@echo "make drift [INVENTORY=inventory/lab]  would site.yml change anything? exit 0 / 2 (drift) / 1 (error)"

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt constraints.txt
	test -x $(BIN)/python || python3 -m venv $(VENV) || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null \
	  && python3 -m venv $(VENV); }
	$(BIN)/pip install -q -r requirements.txt -c constraints.txt $(PIP_QUIET)
	touch $@

collections: $(COLLECTIONS)/.bundle-$(ANSIBLE_BUNDLE)
$(COLLECTIONS)/.bundle-$(ANSIBLE_BUNDLE): tools/collections.sh
	ANSIBLE_BUNDLE=$(ANSIBLE_BUNDLE) tools/collections.sh
	touch $@

engine:
	tools/docker-engine.sh

images: engine
	tools/build-images.sh

yamllint: venv
	yamllint --strict .

# ansible-lint (offline) caches collections in $$ANSIBLE_HOME (default ~/.ansible, shared by every
# checkout on the machine); a stale squaremcp.infra there would shadow this checkout's roles.
ansible-lint: venv collections
	ANSIBLE_HOME=$(CURDIR)/.cache/ansible-lint-home ansible-lint

lint: repo-check yamllint ansible-lint

repo-check: venv
	$(BIN)/python tools/repo_check.py

sanity: venv collections
	tools/sanity.sh

# Integration tests run on 2 workers (pytest-xdist; benchmarks/test_suite.py measures -n 2 against one
# process); PYTEST_WORKERS=0 runs them in one process.
PYTEST_WORKERS ?= 2
PYTEST_N := $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS),)

unit: venv collections
	$(BIN)/python -m pytest -q tests/unit

# The stacks, backup and monitoring tests deploy real Compose projects: they need the engine and the images.
integration: venv collections images
	$(BIN)/python -m pytest -q $(PYTEST_N) --durations=15 tests/integration

# The integration tests not marked slow (no ansible-playbook, no containers): seconds, for test-fast.
integration-fast: venv collections
	$(BIN)/python -m pytest -q -m "not slow" tests/integration

molecule: $(addprefix molecule-,$(SCENARIOS))

$(addprefix molecule-,$(SCENARIOS)): molecule-%: venv collections images
	tools/molecule.sh $*

test-fast: lint sanity unit integration-fast

# make test runs these scenarios, two at a time, the longest first (CI has 2 cores and 90 minutes).
TEST_SCENARIOS ?= disaster_recovery platform outage stacks host traefik microk8s cert_rotation sealed_secrets monitoring
MOLECULE_JOBS ?= 2

test: lint sanity unit integration
	$(MAKE) --no-print-directory -j $(MOLECULE_JOBS) -O $(addprefix molecule-,$(TEST_SCENARIOS))

build: venv collections
	ansible-galaxy collection build --force --output-path .cache/build .

# FAST=1 (or DEMO_FAST=1): converge with the Mitogen strategy.
demo: venv collections images
	tools/demo.sh

# Drift check from this checkout: exit 0 no drift, 2 drift, 1 error (README "Drift detection").
INVENTORY ?= inventory/lab
drift: venv collections
	tools/drift-check -i $(INVENTORY)
demo-ha: venv collections images
	tools/demo.sh ha

clean:
	rm -rf .cache .pytest_cache tests/output
