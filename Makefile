# photomark: every set-up step lives here, so a fresh Debian machine needs only
# `make demo` or `make test`.  Targets are idempotent: they install only what is missing.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
# What the demo needs, and what the tests need on top (the real servers they start).
APT_DEMO := tesseract-ocr tesseract-ocr-eng fonts-dejavu-core
APT_TEST := $(APT_DEMO) rabbitmq-server glusterfs-server glusterfs-client
# Installs the Debian packages among $(1) that are not installed yet.
apt_install = missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$(echo $$missing)" ]; then \
	  echo "installing system packages:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
SAMPLE := samples/release-notes.png

.PHONY: help demo test unit integration e2e lint protos protos-check bench mutation clean system-deps venv

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

demo: $(STAMPS)/system-demo venv  ## install what is missing, then mark the bundled sample photo on the embedded cluster
	$(BIN)/photomark mark $(SAMPLE) -w photomark -w keywords -w "marked photo" -w absent --report samples/release-notes_marks.json

test: $(STAMPS)/system-test venv  ## install what is missing, then run every test (starting the servers it needs)
	$(BIN)/python -m pytest -q

unit: $(STAMPS)/system-demo venv  ## the fast tests only (no OCR, no subprocesses)
	$(BIN)/python -m pytest -q -m "not integration and not e2e"

lint: venv  ## ruff: lint and formatting of the whole tree (tests/test_lint.py runs the same)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

protos: venv  ## regenerate the gRPC modules from protos/*.proto
	$(BIN)/python -m protos.generate

bench: $(STAMPS)/system-test venv  ## run the benchmarks (each prints ratios against a baseline of the same run)
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/quality.py
	$(BIN)/python bench/throughput.py
	$(BIN)/python bench/group.py
	$(BIN)/python bench/store.py
	$(BIN)/python bench/clients.py

# `make mutation MODULE=actors/job.py` tests one module of mutation/modules.toml; JOBS=2 tests two mutants at a time.
MODULE ?=
JOBS ?= 1
mutation: venv  ## mutation-test the pure decision modules against their tests (slow; not part of test)
	$(BIN)/python mutation/run.py --jobs $(JOBS) $(MODULE)

venv: $(STAMPS)/venv

$(STAMPS)/system-demo:
	@mkdir -p $(STAMPS)
	@$(call apt_install,$(APT_DEMO))
	@touch $@

$(STAMPS)/system-test:
	@mkdir -p $(STAMPS)
	@$(call apt_install,$(APT_TEST))
	@touch $@

$(STAMPS)/venv: setup.cfg pyproject.toml | $(STAMPS)/system-demo
	@mkdir -p $(STAMPS)
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,dev]'
	@touch $@

clean:  ## remove the virtual environment and generated data
	rm -rf $(VENV) $(STAMPS) photomark-data build *.egg-info
