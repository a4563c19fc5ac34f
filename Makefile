# Switchboard developer entry points. `make test` and `make run` work on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CACHE ?= $(or $(SWITCHBOARD_CACHE),$(HOME)/.cache/switchboard)
export SWITCHBOARD_CACHE := $(CACHE)
export PATH := $(CURDIR)/$(VENV)/bin:$(CACHE)/bin:$(PATH)

.PHONY: help setup tools lint typecheck unit test bench bench-quick run down run-standalone clean crds golden cluster-up cluster-down

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

test: setup tools node-tools host-packages lint ## install everything the tests need, then run them all: main suite, and the pod suite on a real node
	$(PY) -m hack.suite

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

golden: setup ## rewrite every golden file (renderer, adapters, client APIs) from the code; review the diff
	UPDATE_GOLDEN=1 $(PY) -m pytest -q tests/operator/test_render.py tests/adapters/test_golden.py tests/apis/test_golden.py

# --- Helm chart, images and kind (docs/kind.md) -------------------------------
CHART := deploy/helm/switchboard
KIND_CLUSTER ?= switchboard
IMAGE_TAG ?= dev
IMAGE_PREFIX ?= ghcr.io/switchboard-dev
RELEASE_NAMESPACE ?= switchboard-system
RELEASE_NAME ?= switchboard

.PHONY: chart-crds helm-lint helm-docs images host-packages node-tools node-up node-down e2e-node kind-up e2e-kind

# Debian packages for building and running images with no registry (podman, runc, debootstrap)
# and for the local node (containerd, CNI plugins, iptables, conntrack).
HOST_PACKAGES := podman buildah runc containerd containernetworking-plugins debootstrap iptables conntrack

host-packages: ## install the missing Debian packages the image and node tests need (apt-get)
	@missing=$$(for p in $(HOST_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing:" $$missing; \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
	fi

NODE_DIR ?= .run/node

node-up: tools node-tools images ## control plane + one real node (containerd, kubelet, kube-proxy, scheduler, bridge CNI)
	$(PY) -m hack.kubenode up --state-dir $(NODE_DIR)

node-down: ## stop the node and its control plane; leaves no process, mount, netns, bridge, iptables rule or cgroup
	$(PY) -m hack.kubenode down --state-dir $(NODE_DIR)

# The pod suite (hack/suite.py, also run by make test): images, node-up and the chart, the node's own
# tests, the chart's pod scenarios and the e2e suite on the `node` backend, node-down and a check that nothing is left.
e2e-node: setup tools node-tools host-packages ## the pod suite alone on a real node: chart, e2e suite and pod scenarios (minutes)
	$(PY) -m hack.suite --pods-only

node-tools: setup ## kubelet, kube-proxy, kube-scheduler (same k8s.io/kubernetes as the control plane), CoreDNS, into $(CACHE)/bin
	$(PY) -m hack.install_tools --node

chart-crds: ## copy the generated CRDs from deploy/crds/ into the chart (byte-identical)
	rm -f $(CHART)/crds/*.yaml
	cp deploy/crds/*.yaml $(CHART)/crds/

helm-docs: ## regenerate docs/values.md from the chart's values.schema.json
	$(PY) deploy/helm/values_doc.py $(CHART) > docs/values.md

helm-lint: ## helm lint the chart with default and all-optional-on values
	helm lint --strict $(CHART)
	helm lint --strict $(CHART) -f tests/helm/values-all-on.yaml

images: setup host-packages ## operator and proxy images with podman: Debian base (debootstrap), host-built wheels, offline
	$(PY) -m hack.images --prefix $(IMAGE_PREFIX) --tag $(IMAGE_TAG) $(if $(IMAGE_BASE),--base $(IMAGE_BASE))

kind-up: images ## kind cluster with the images loaded and the chart installed (needs kind)
	kind get clusters | grep -qx '$(KIND_CLUSTER)' || kind create cluster --name $(KIND_CLUSTER) --wait 120s
	podman save -o build/images/images.tar \
		$(IMAGE_PREFIX)/switchboard-operator:$(IMAGE_TAG) $(IMAGE_PREFIX)/switchboard-proxy:$(IMAGE_TAG)
	kind load image-archive --name $(KIND_CLUSTER) build/images/images.tar
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
