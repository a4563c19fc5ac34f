# Switchboard developer entry points. `make test` and `make run` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CACHE ?= $(or $(SWITCHBOARD_CACHE),$(HOME)/.cache/switchboard)
export SWITCHBOARD_CACHE := $(CACHE)
export PATH := $(CURDIR)/$(VENV)/bin:$(CACHE)/bin:$(PATH)

.PHONY: help setup tools lint typecheck unit test bench bench-quick run down run-standalone clean crds cluster-up cluster-down

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

test: setup tools lint ## install everything the tests need, then run them all
	$(PY) -m pytest

tools: setup ## etcd, kube-apiserver, kube-controller-manager (built once from Go), helm, into $(CACHE)/bin
	$(PY) -m hack.install_tools

cluster-up: tools ## local control plane in .run/cluster; prints the admin kubeconfig
	$(PY) -m hack.cluster up

cluster-down: ## stop the local control plane; leaves no process or port behind
	$(PY) -m hack.cluster down

$(VENV)/.bench-installed: $(VENV)/.installed
	$(PY) -m pip install -q -e '.[test,bench]'
	touch $@

bench: $(VENV)/.bench-installed tools ## Switchboard vs nginx, aiohttp and LiteLLM in one run (<15 min): docs/benchmarks.md
	$(PY) -m bench.run

bench-quick: $(VENV)/.bench-installed ## the same comparison, fewer paths and shorter runs (<2 min), writes nothing
	$(PY) -m bench.run --quick --no-write

SYSTEM_DIR ?= .run/system
RUN_FLAGS ?=

run: tools ## the whole system on a local control plane: operators, proxies, mocks, examples (docs/try-it.md)
	$(PY) -m hack.system up --state-dir $(SYSTEM_DIR) $(RUN_FLAGS)

down: ## stop everything `make run` started, the cluster included; leaves no process or port behind
	$(PY) -m hack.system down --state-dir $(SYSTEM_DIR)

run-standalone: setup ## the standalone proxy on examples/standalone.yaml with mock upstreams (Ctrl-C stops)
	$(PY) -m switchboard.demo

clean:
	rm -rf $(VENV) build *.egg-info .run

crds: ## regenerate deploy/crds/ from the pydantic models
	$(PY) -m switchboard.operator.crdgen deploy/crds

# --- Helm chart, images and kind (docs/kind.md) -------------------------------
CHART := deploy/helm/switchboard
KIND_CLUSTER ?= switchboard
IMAGE_TAG ?= dev
IMAGE_PREFIX ?= ghcr.io/switchboard-dev
RELEASE_NAMESPACE ?= switchboard-system
RELEASE_NAME ?= switchboard

.PHONY: chart-crds helm-lint helm-docs images kind-up e2e-kind

chart-crds: ## copy the generated CRDs from deploy/crds/ into the chart (byte-identical)
	rm -f $(CHART)/crds/*.yaml
	cp deploy/crds/*.yaml $(CHART)/crds/

helm-docs: ## regenerate docs/values.md from the chart's values.schema.json
	$(PY) deploy/helm/values_doc.py $(CHART) > docs/values.md

helm-lint: ## helm lint the chart with default and all-optional-on values
	helm lint --strict $(CHART)
	helm lint --strict $(CHART) -f tests/helm/values-all-on.yaml

images: ## build the operator and proxy images (needs a Docker engine)
	docker build -f operator/Dockerfile -t $(IMAGE_PREFIX)/switchboard-operator:$(IMAGE_TAG) .
	docker build -f proxy/Dockerfile -t $(IMAGE_PREFIX)/switchboard-proxy:$(IMAGE_TAG) .

kind-up: images ## kind cluster with the images loaded and the chart installed (needs Docker and kind)
	kind get clusters | grep -qx '$(KIND_CLUSTER)' || kind create cluster --name $(KIND_CLUSTER) --wait 120s
	kind load docker-image --name $(KIND_CLUSTER) \
		$(IMAGE_PREFIX)/switchboard-operator:$(IMAGE_TAG) $(IMAGE_PREFIX)/switchboard-proxy:$(IMAGE_TAG)
	helm upgrade --install $(RELEASE_NAME) $(CHART) --kube-context kind-$(KIND_CLUSTER) \
		--namespace $(RELEASE_NAMESPACE) --create-namespace --wait --timeout 5m \
		--set operator.image.tag=$(IMAGE_TAG) --set proxy.image.tag=$(IMAGE_TAG) \
		--set proxy.image.pullPolicy=Never --set operator.image.pullPolicy=Never

e2e-kind: kind-up ## tests/e2e against the kind cluster's pods (kind backend of tests/fixtures/system.py)
	SWITCHBOARD_KUBE_CONTEXT=kind-$(KIND_CLUSTER) SWITCHBOARD_RELEASE_NAMESPACE=$(RELEASE_NAMESPACE) \
		SWITCHBOARD_RELEASE_NAME=$(RELEASE_NAME) $(PY) -m pytest tests/e2e -m k8s -p no:randomly -rs

.PHONY: docs
docs: ## regenerate docs/reference/ and the generated blocks of docs/*.md from the code
	$(PY) -m hack.docgen
