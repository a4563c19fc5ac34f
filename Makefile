# Switchboard developer entry points. `make test` and `make run` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CACHE ?= $(HOME)/.cache/switchboard
export SWITCHBOARD_CACHE := $(CACHE)
export PATH := $(CURDIR)/$(VENV)/bin:$(CACHE)/bin:$(PATH)

.PHONY: help setup tools lint typecheck unit test bench run down clean crds

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

setup: $(VENV)/.installed ## Python virtualenv with pinned dependencies

lint: setup ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: setup lint ## install everything the tests need, then run them all
	$(PY) -m pytest

bench: setup ## benchmarks, reported in numbers
	$(PY) -m pytest bench --benchmark-enable --benchmark-only -p no:randomly

run: setup ## the demo: mock upstreams + proxy on examples/standalone.yaml
	$(PY) -m switchboard.demo

clean:
	rm -rf $(VENV) build *.egg-info .run

crds: ## regenerate deploy/crds/ from the pydantic models
	$(PY) -m switchboard.operator.crdgen deploy/crds
