# Emporium: one command sets up, one runs, one tests.
#   make run     the whole store on this machine (needs only python3 >= 3.11)
#   make test    lint, type checks, unit and integration tests, their coverage combined
#   make bench   the benchmarks (needs wrk and redis-server)
#   make images  the container images (needs Docker; `make base-images` first without a registry)
#   make cluster, controllers, identity, push, deploy   the store on EKS (README: Deploy to AWS)
#   make dev     skaffold dev on kind (README: Develop on kind with skaffold)
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

URL ?= http://localhost:8080
USERS ?= 20
DURATION ?= 60
# The development issuer of `make run` adds the sign-in journey; empty elsewhere (EKS: Cognito).
LOAD_ISSUER ?= $(if $(filter http://localhost:8080 http://127.0.0.1:8080,$(URL)),http://127.0.0.1:8086,)

.PHONY: help setup run test lint typecheck unit integration coverage fmt bench mutants load soak images base-images chart-tools clean
.PHONY: kind-node-image kind-up kind-down e2e
.PHONY: deploy-tools cluster cluster-delete teardown-aws controllers identity push deploy port-forward logs dev

# The deploy paths. The cluster's name and region are those of eksctl/cluster.yaml (change them
# there); the store is the release emporium in the namespace emporium (eksctl/deploy/config.py).
CLUSTER_FILE := eksctl/cluster.yaml
CLUSTER := $(shell sed -n 's/^  name: *//p' $(CLUSTER_FILE) | head -n 1)
AWS_REGION ?= $(shell sed -n 's/^  region: *//p' $(CLUSTER_FILE) | head -n 1)
RELEASE := emporium
NAMESPACE ?= emporium
KUBECTL ?= kubectl
# helm and the Go-built tools: the ones on PATH, else built through the Go module proxy and
# cached (charts/build-helm, eksctl/build-tool; the $$(...) runs in the recipe, once needed).
HELM ?= $(or $(shell command -v helm 2>/dev/null),$$(charts/build-helm))
EKSCTL ?= $(or $(shell command -v eksctl 2>/dev/null),$$(eksctl/build-tool eksctl))
SKAFFOLD ?= $(or $(shell command -v skaffold 2>/dev/null),$$(eksctl/build-tool skaffold))
# The Python of the AWS calls (boto3), run from the work tree: eksctl/deploy/.
DEPLOY := AWS_REGION=$(AWS_REGION) PYTHONPATH=eksctl $(BIN)/python -m deploy
SERVICE ?=
MODULES ?=
PORT ?= 8080
SERVICE_PORT ?= http
# make e2e's own cluster (never kind-up's emporium: the run deletes it at the end).
E2E_CLUSTER ?= emporium-e2e

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

test: lint typecheck unit integration coverage ## everything CI runs

lint: $(VENV)/.synced ## ruff check and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.synced ## mypy, strict
	$(BIN)/mypy

# Each run's coverage data, the Python subprocesses' included ([tool.coverage.run] in
# pyproject.toml): gunicorn's master and workers, make run's stack, the seeding, the deploy
# scripts. Absolute, because a subprocess may start in another folder; not named .coverage.*,
# which coverage's reports would combine (and delete) by themselves. The floor (fail_under) is
# for the combined figure of `make coverage`, so neither run checks it on its own part.
COVERAGE_UNIT := $(CURDIR)/.coverage-unit
COVERAGE_INTEGRATION := $(CURDIR)/.coverage-integration

unit: $(VENV)/.synced ## unit tests (Flask test client, in-process fakes); coverage data in .coverage-unit
	COVERAGE_FILE=$(COVERAGE_UNIT) $(BIN)/pytest -m "not integration and not e2e" \
		--cov --cov-report=term:skip-covered --cov-fail-under=0

integration: $(VENV)/.synced ## integration tests (redis-server, moto server, gunicorn; the images); coverage data in .coverage-integration
	COVERAGE_FILE=$(COVERAGE_INTEGRATION) $(BIN)/pytest -m integration \
		--cov --cov-report= --cov-fail-under=0

coverage: $(VENV)/.synced ## make unit's and make integration's coverage combined: the files not fully covered, the total, the floor
	@for data in $(COVERAGE_UNIT) $(COVERAGE_INTEGRATION); do [[ -f $$data ]] || \
		{ echo "coverage: no $$(basename $$data): run make unit and make integration first" >&2; exit 1; }; done
	@echo "coverage: step 1/3: combine .coverage-unit and .coverage-integration into .coverage (kept for coverage html)"
	$(BIN)/coverage erase
	$(BIN)/coverage combine --keep --quiet $(COVERAGE_UNIT) $(COVERAGE_INTEGRATION)
	@echo "coverage: step 2/3: the files not fully covered (statements and branches)"
	$(BIN)/coverage report --skip-covered --skip-empty --fail-under=0
	@echo "coverage: step 3/3: the total, in percent; below fail_under in pyproject.toml fails"
	$(BIN)/coverage report --format=total

fmt: $(VENV)/.synced ## format and fix what ruff can
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(VENV)/.synced ## the figures: catalog read vs bare Flask, checkout to SHIPPED, events/s
	$(BIN)/python tests/bench/catalog_read.py
	$(BIN)/python tests/bench/checkout_to_shipped.py
	$(BIN)/python tests/bench/fulfillment_throughput.py
	$(BIN)/python tests/bench/emulator.py

mutants: $(VENV)/.synced ## mutation testing of the money and sign-in modules (MODULES="orders.checkout ...")
	$(BIN)/python tests/mutants/run.py $(MODULES)

load: $(VENV)/.synced ## URL=<edge> USERS=20 DURATION=60: shopper journeys (locust, headless); req/s, p50/p95/p99, errors
	$(BIN)/python tests/load/run.py --url $(URL) --users $(USERS) --duration $(DURATION) --issuer "$(LOAD_ISSUER)"

soak: $(VENV)/.synced ## URL=<edge> DURATION=300 [SOAK_NAMESPACE=<ns> on a cluster]: the maximum, then 70% of it; errors, memory
	$(BIN)/python tests/bench/soak.py --url $(URL) --duration $(if $(filter command line environment,$(origin DURATION)),$(DURATION),300) --issuer "$(LOAD_ISSUER)" \
		$(if $(SOAK_NAMESPACE),--namespace $(SOAK_NAMESPACE))

chart-tools: ## helm 3 and 4 built through the Go module proxy, Kubernetes' OpenAPI documents, Prometheus Operator CRDs, checkov (cached)
	charts/build-helm >/dev/null
	HELM_VERSION=$(HELM4_VERSION) charts/build-helm >/dev/null
	charts/fetch-kubernetes-openapi >/dev/null
	charts/fetch-prometheus-operator-crds >/dev/null
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

# pytest deletes its cluster in its own teardown, and on Ctrl-C too; a run that ends otherwise
# (a CI timeout's SIGTERM, a crash) deletes it here (deleting a cluster that is gone does nothing).
e2e: $(VENV)/.synced ## the store on a new kind cluster: helm install, the journey, faults; then deleted
	@trap 'status=$$?; if ((status != 0)); then echo "e2e: exit $$status: deleting the kind cluster $(E2E_CLUSTER)" >&2; \
		KIND_CLUSTER_NAME=$(E2E_CLUSTER) tests/kind/cluster down; fi' EXIT; \
	trap 'exit 130' INT; trap 'exit 143' TERM HUP; \
	echo "e2e: pytest -m e2e tests/e2e (kind cluster $(E2E_CLUSTER))"; \
	KIND_CLUSTER_NAME=$(E2E_CLUSTER) $(BIN)/pytest -m e2e tests/e2e

clean: ## remove the virtual environments and caches
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.* .coverage-*

deploy-tools: ## eksctl, skaffold (and a registry for the tests) built through the Go module proxy (cached)
	eksctl/build-tool eksctl >/dev/null
	eksctl/build-tool skaffold >/dev/null
	eksctl/build-tool registry >/dev/null

cluster: $(VENV)/.synced ## EKS on Fargate from eksctl/cluster.yaml: about 20 minutes; billed until cluster-delete
	@echo "cluster: step 1/3: the AWS credentials and region ($(AWS_REGION), from $(CLUSTER_FILE))"
	$(DEPLOY) check
	@echo "cluster: step 2/3: COST: from now until make cluster-delete, AWS bills the EKS control" \
		"plane (0.10 USD/h), a NAT gateway (about 0.05 USD/h and its traffic), every Fargate pod and" \
		"the control plane's logs; with the store deployed, about 0.50 USD/h in all (README)"
	@echo "cluster: step 3/3: eksctl create cluster -f $(CLUSTER_FILE) (cluster $(CLUSTER))"
	$(EKSCTL) create cluster -f $(CLUSTER_FILE)

# CONFIRM=<cluster name> answers the question (for scripts).
cluster-delete: $(VENV)/.synced ## delete the store, the controllers and the cluster (asks first)
	@echo "cluster-delete: step 1/5: the AWS credentials and region ($(AWS_REGION))"
	$(DEPLOY) check
	@echo "cluster-delete: step 2/5: confirm: this deletes the cluster $(CLUSTER) in $(AWS_REGION)," \
		"the store on it, its ALB, API Gateway and ElastiCache; the DynamoDB tables stay (deletion" \
		"protection), as do the ECR repositories, the Cognito user pool and the control plane's" \
		"logs (make teardown-aws deletes them afterwards)"
	@answer=$${CONFIRM:-}; \
	if [[ -z $$answer ]]; then read -r -p "Type the cluster's name ($(CLUSTER)) to delete it: " answer || true; fi; \
	if [[ $$answer != "$(CLUSTER)" ]]; then echo "cluster-delete: not confirmed: nothing deleted" >&2; exit 1; fi
	@echo "cluster-delete: step 3/5: helm uninstall $(RELEASE): the controllers delete the ALB, API Gateway and ElastiCache"
	$(HELM) uninstall $(RELEASE) --namespace $(NAMESPACE) --ignore-not-found --wait --timeout 20m
	@echo "cluster-delete: step 4/5: the controllers"
	for release in aws-load-balancer-controller ack-dynamodb-controller ack-elasticache-controller ack-apigatewayv2-controller; do \
		$(HELM) uninstall $$release --namespace aws-controllers --ignore-not-found --wait; done
	@echo "cluster-delete: step 5/5: eksctl delete cluster -f $(CLUSTER_FILE)"
	$(EKSCTL) delete cluster -f $(CLUSTER_FILE) --wait

# After cluster-delete; CONFIRM=<cluster name> answers its question too.
teardown-aws: $(VENV)/.synced ## after cluster-delete: the tables (their data too), ECR repositories, Cognito pool, control-plane logs (asks first)
	$(DEPLOY) teardown

controllers: $(VENV)/.synced ## the AWS Load Balancer Controller and the ACK controllers (IRSA roles of cluster.yaml)
	HELM="$(HELM)" KUBECTL=$(KUBECTL) $(DEPLOY) controllers

identity: $(VENV)/.synced ## the Cognito user pool and app client of sign-in (found and reused); prints issuer and audience
	$(DEPLOY) identity

push: $(VENV)/.synced ## ECR repositories, docker login with an ECR token, the images of make images pushed
	DOCKER=$(or $(DOCKER),docker) $(DEPLOY) push

deploy: $(VENV)/.synced ## helm upgrade --install with values-eks.yaml and the pushed tags; prints API Gateway's URL
	HELM="$(HELM)" KUBECTL=$(KUBECTL) $(DEPLOY) deploy

port-forward: ## SERVICE=<name> [PORT=8080] [SERVICE_PORT=http]: a service of the release on localhost (any cluster)
	@[[ -n "$(SERVICE)" ]] || { echo "port-forward: SERVICE is required, e.g. make port-forward SERVICE=edge" >&2; exit 1; }
	@echo "port-forward: http://localhost:$(PORT) -> service/$(RELEASE)-$(SERVICE):$(SERVICE_PORT) in $(NAMESPACE) (Ctrl-C stops it)"
	$(KUBECTL) --namespace $(NAMESPACE) port-forward service/$(RELEASE)-$(SERVICE) $(PORT):$(SERVICE_PORT)

logs: ## SERVICE=<name>: follow the logs of every pod of a service (any cluster)
	@[[ -n "$(SERVICE)" ]] || { echo "logs: SERVICE is required, e.g. make logs SERVICE=catalog" >&2; exit 1; }
	@echo "logs: the logs of every pod of service $(SERVICE) (release $(RELEASE)) in $(NAMESPACE), followed, each line prefixed with its pod (Ctrl-C stops it)"
	$(KUBECTL) --namespace $(NAMESPACE) logs --follow --prefix --all-containers --max-log-requests 20 \
		--selector app.kubernetes.io/instance=$(RELEASE),app.kubernetes.io/component=$(SERVICE)

dev: ## skaffold dev on kind: build, load, deploy, port-forward, sync the UI's files (needs a kind cluster)
	@echo "dev: skaffold dev --profile kind (kube context $$($(KUBECTL) config current-context 2>/dev/null || echo none)); Ctrl-C stops and uninstalls"
	# skaffold loads the images with `kind load`: kind (and this host's docker wrapper, where
	# needed) first on PATH, as tests/kind/cluster path gives them.
	helm=$(HELM); skaffold=$(SKAFFOLD); PATH="$$(dirname "$$helm"):$$(tests/kind/cluster path)" \
		"$$skaffold" dev --profile kind --port-forward=user
