# Everything runs from a local virtualenv; nothing beyond Python 3.11+ and make is assumed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install dev test lint typecheck pytest fuzz demo bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

## make dev: Temporal dev server + worker + API on this machine; Ctrl-C stops all three.
dev: install
	$(BIN)/aftersales dev

## make test: lint, format check, types, then the whole suite (SQLite and PostgreSQL).
test: install lint typecheck pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/pytest -q $(PYTEST_ARGS)

## make fuzz: the Schemathesis run of make test, looking harder (FUZZ_EXAMPLES requests per operation).
FUZZ_EXAMPLES ?= 200
fuzz: install
	AFTERSALES_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q tests/api/test_fuzz.py

## make demo: drive a few realistic orders against a running stack (make dev in another terminal).
demo: install
	$(BIN)/aftersales demo

## make bench: throughput and latency of starts, queries, updates and the read model (not part of make test).
bench: install
	AFTERSALES_LOG_LEVEL=WARNING $(BIN)/aftersales bench

clean:
	rm -rf $(VENV) .temporal aftersales.db* .mypy_cache .ruff_cache .pytest_cache
