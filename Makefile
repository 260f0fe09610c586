# photomark: every set-up step lives here, so a fresh Debian machine needs only
# `make demo` or `make test`.  Targets are idempotent: they install only what is missing.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMPS := .stamps
APT_PACKAGES := tesseract-ocr tesseract-ocr-eng fonts-dejavu-core
SAMPLE := samples/release-notes.png

.PHONY: help demo test unit integration e2e protos protos-check bench clean system-deps venv

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

demo: venv  ## install what is missing, then mark the bundled sample photo on the embedded cluster
	$(BIN)/photomark mark $(SAMPLE) -w photomark -w keywords -w "marked photo" -w absent --report samples/release-notes_marks.json
	@echo "marked photo: samples/release-notes_marks.png"

test: venv  ## install what is missing, then run every test
	$(BIN)/python -m pytest -q

unit: venv  ## the fast tests only (no OCR, no subprocesses)
	$(BIN)/python -m pytest -q -m "not integration and not e2e"

protos: venv  ## regenerate the gRPC modules from protos/*.proto
	$(BIN)/python -m protos.generate

bench: venv  ## run the benchmarks (prints ratios against baselines measured in the same run)
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/quality.py

venv: $(STAMPS)/system $(STAMPS)/venv

$(STAMPS)/system:
	@mkdir -p $(STAMPS)
	@missing=""; \
	command -v tesseract >/dev/null || missing="$(APT_PACKAGES)"; \
	[ -n "$$missing" ] || tesseract --list-langs 2>/dev/null | grep -qx eng || missing="$(APT_PACKAGES)"; \
	$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages: $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	@touch $@

$(STAMPS)/venv: setup.cfg pyproject.toml
	@mkdir -p $(STAMPS)
	[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,dev]'
	@touch $@

clean:  ## remove the virtual environment and generated data
	rm -rf $(VENV) $(STAMPS) photomark-data build *.egg-info
