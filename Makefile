# Two commands matter: `make demo` (set up, start, run the pipeline) and `make test` (every test tier).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
KAPPA  := $(BIN)/kappa
STAMP  := $(VENV)/.installed

.PHONY: bench chaos demo test test-cluster test-unit test-terraform test-flink test-integration setup browser up down status lint fmt clean lock

$(STAMP): pyproject.toml requirements/platform.txt
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c requirements/platform.txt -e '.[dev]'
	@touch $@

setup: $(STAMP)            ## fetch and install every component into ~/.cache/kappa
	$(KAPPA) setup

demo: setup                ## set up, start the stack, run the transactions pipeline, query Trino
	$(KAPPA) demo

bench: setup              ## the product's pipelines and Nexmark against the running stack (quick profile)
	$(BIN)/pip install --quiet -c requirements/platform.txt -e '.[bench]'
	$(KAPPA) up
	$(KAPPA) bench --profile quick

chaos: setup              ## every fault case at full size (kill -9, restarts, fuzz) on its own stack, then the cluster tier
	KAPPA_CHAOS=full $(BIN)/pytest -m fault
	$(MAKE) --no-print-directory test-cluster

test-cluster: setup       ## the cluster profile's whole stack and its faults (its own session: never beside another stack)
	$(BIN)/pytest -m cluster

up: setup
	$(KAPPA) up

down: $(STAMP)
	$(KAPPA) down

status: $(STAMP)
	$(KAPPA) status

test: setup browser lint   ## every tier: unit, job logic on a local Flink, integration on a real stack
	$(BIN)/pytest -m unit
	$(BIN)/pytest -m terraform
	$(MAKE) --no-print-directory test-flink
	$(BIN)/pytest -m "integration and not chaos"

test-unit: $(STAMP)
	$(BIN)/pytest -m unit

test-terraform: setup      ## terraform fmt -check and validate of every module and environment
	$(BIN)/pytest -m terraform

test-flink: setup          ## the jobs' SQL and the contract format on a local Flink, in the Flink environment
	KAPPA_CONTRACT_FORMAT_JAR="$$($(KAPPA) paths --get contract_format_jar)" \
	  "$$($(KAPPA) paths --get flink_python)" -m pytest -p no:cacheprovider tests/flink

test-integration: setup browser
	$(BIN)/pytest -m "integration and not chaos"

browser:                   ## headless Chromium (Debian package) for the Dagster UI test
	@command -v chromium >/dev/null || { \
	  command -v apt-get >/dev/null || { echo "error: chromium is missing and apt-get is not available; install Chromium and put it on PATH"; exit 1; }; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing chromium from Debian (for the Dagster UI test)"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

lint: $(STAMP)
	$(BIN)/ruff check platform flink_jobs lakehouse orchestration tests
	$(BIN)/mypy platform/kappa lakehouse orchestration flink_jobs

fmt: $(STAMP)
	$(BIN)/ruff check --fix platform flink_jobs lakehouse orchestration tests

lock: $(STAMP)             ## refresh the pinned Python versions (maintainers)
	$(BIN)/pip freeze --exclude-editable > requirements/platform.txt

clean:
	rm -rf $(VENV) build *.egg-info
