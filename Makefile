# Emporium: one command sets up, one runs, one tests.
#   make run     the whole store on this machine (needs only python3 >= 3.11)
#   make test    lint, type checks, unit and integration tests
#   make bench   the benchmarks (needs wrk and redis-server)
#   make images  the container images (needs Docker; `make base-images` first without a registry)
#   make e2e     the store on a kind cluster, end to end (needs Docker, Go and `make images`)

.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
# Helm 4 checks the chart too (charts/build-helm builds it once, cached; Helm 3's version is
# the script's own default).
HELM4_VERSION ?= v4.3.2
UV_VERSION := 0.13.9
VENV := .venv
BIN := $(VENV)/bin

# uv installs the locked dependencies; a uv on PATH is used, else one is set up in .tools/.
UV := $(or $(shell command -v uv 2>/dev/null),.tools/bin/uv)
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never

# The images' bases: the official ones, or the stand-ins of `make base-images` where no
# registry can be reached (BASE_IMAGE=emporium/python:3.11-bookworm
# BUILD_IMAGE=emporium/python-build:3.11-bookworm DEBIAN_IMAGE=emporium/debian:bookworm).
BASE_IMAGE ?= python:3.12-slim
BUILD_IMAGE ?= $(BASE_IMAGE)
DEBIAN_IMAGE ?= debian:bookworm-slim

.PHONY: help setup run test lint typecheck unit integration fmt bench images base-images chart-tools \
	kind-node-image kind-up kind-down e2e clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

.tools/bin/uv:
	$(PYTHON) -m venv .tools
	.tools/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked
	@touch $@

setup: $(VENV)/.synced ## create .venv with the locked dependencies

run: $(VENV)/.synced ## run the store: DynamoDB emulator, Redis, services (Ctrl-C stops all)
	$(BIN)/python -m devstack

test: lint typecheck unit integration ## everything CI runs

lint: $(VENV)/.synced ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.synced ## mypy, strict
	$(BIN)/mypy

unit: $(VENV)/.synced ## unit tests (Flask test client, in-process fakes)
	$(BIN)/pytest -m "not integration and not e2e" --cov --cov-report=term:skip-covered

integration: $(VENV)/.synced ## integration tests (redis-server, moto server, gunicorn; the images)
	$(BIN)/pytest -m integration

fmt: $(VENV)/.synced ## format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.synced ## the figures: catalog read vs bare Flask, checkout to SHIPPED, events/s
	$(BIN)/python tests/bench/catalog_read.py
	$(BIN)/python tests/bench/checkout_to_shipped.py
	$(BIN)/python tests/bench/fulfillment_throughput.py

chart-tools: ## helm 3 and 4 built through the Go module proxy, Kubernetes' OpenAPI documents, checkov (cached)
	charts/build-helm >/dev/null
	HELM_VERSION=$(HELM4_VERSION) charts/build-helm >/dev/null
	charts/fetch-kubernetes-openapi >/dev/null
	charts/install-checkov >/dev/null

images: ## build every image, tagged emporium/<name>:<git sha> and :dev, and print sizes
	BASE_IMAGE=$(BASE_IMAGE) BUILD_IMAGE=$(BUILD_IMAGE) DEBIAN_IMAGE=$(DEBIAN_IMAGE) \
		UV_VERSION=$(UV_VERSION) docker/build-images

base-images: ## no registry? Debian and Python bases from Debian packages (root, debootstrap)
	docker/build-base-images

kind-node-image: ## the kind node image, built from source through the Go module proxy (cached)
	tests/kind/build-node-image >/dev/null

kind-up: ## a kind cluster "emporium", the store's images loaded (context kind-emporium)
	tests/kind/cluster up

kind-down: ## delete the kind cluster "emporium"
	tests/kind/cluster down

e2e: $(VENV)/.synced ## the store on a new kind cluster: helm install, the journey, faults; then deleted
	$(BIN)/pytest -m e2e tests/e2e

clean: ## remove the virtual environments and caches
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache .coverage
