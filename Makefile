# Lắng Nghe — `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash

# Python 3.13: on PATH, or the pyenv build these machines carry.
PYTHON ?= $(firstword $(foreach p,python3.13 $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) /usr/local/bin/python3.13,$(shell $(p) -c 'import sys; assert sys.version_info[:2] == (3, 13)' >/dev/null 2>&1 && echo $(p))))
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha256sum | cut -c1-12)
PROTOS := $(shell find proto -name '*.proto')

.PHONY: help install models run test check lint proto proto-check schema eval clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.13 not found; set PYTHON=/path/to/python3.13" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP) ## Create .venv (Python 3.13) and install the project with its dev extras

models: install ## Build the sentence encoder into .cache/models when missing or outdated (~15 s)
	$(BIN)/python -m services.nlp.build_encoder

run: install models ## Start embedded MongoDB, nlp, ingest and gateway; Ctrl-C stops all
	$(BIN)/python -m services.devstack

test: install models lint proto-check ## Lint, check the generated stubs, run the whole test suite
	$(BIN)/python -m pytest

check: install models ## Deployment checks: render and validate k8s/, lint rules, dashboards, /metrics
	scripts/ops-check.sh
	$(BIN)/python -m services.devstack.metrics_check

lint: install ## ruff: lint and formatting
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

proto: install ## Regenerate the Python stubs in langnghe/ from proto/
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS)

schema: install ## Write the GraphQL SDL to services/gateway/schema.graphql
	$(BIN)/python -m services.gateway.export_schema

proto-check: install ## Fail if the committed stubs differ from what proto/ generates
	@tmp=$$(mktemp -d) && trap 'rm -rf $$tmp' EXIT && \
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=$$tmp --pyi_out=$$tmp --grpc_python_out=$$tmp $(PROTOS) && \
	for f in $$(cd $$tmp && find langnghe -type f); do \
	  cmp -s $$tmp/$$f $$f || { echo "stub $$f is stale: run make proto" >&2; exit 1; }; done && \
	echo "generated stubs match proto/"

DATA ?= ../shared/data/vi

eval: install models ## Score the served nlp models on the test splits (DATA=../shared/data/vi); one JSON object
	$(BIN)/python -m services.nlp.build_encoder
	$(BIN)/python -m services.nlp.evaluate --data $(DATA) --json

clean: ## Remove the virtual environment and local data
	rm -rf $(VENV) .data .pytest_cache .ruff_cache
