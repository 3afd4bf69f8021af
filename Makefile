# Everything runs from a local virtualenv; nothing beyond Python 3.11+ and make is assumed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install dev test lint typecheck pytest fuzz demo bench chaos clean

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

## make bench: the API beside raw Temporal: throughput, p50/p99, deadline lateness, history size, RSS (not in make test).
## Options through BENCH_ARGS, e.g. make bench BENCH_ARGS="--burst 500 --scale 10000".
BENCH_ARGS ?=
bench: install
	AFTERSALES_LOG_LEVEL=WARNING $(BIN)/aftersales bench $(BENCH_ARGS)

## make chaos: load while the worker, then the dev server, is SIGKILLed and restarted; checks nothing is lost,
## paid or sent twice or stuck, and reports how late deadlines due in the outages were (not in make test).
## Options through CHAOS_ARGS, e.g. make chaos CHAOS_ARGS="--orders-per-second 4 --outage 20".
CHAOS_ARGS ?=
chaos: install
	AFTERSALES_LOG_LEVEL=CRITICAL $(BIN)/aftersales chaos $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .temporal aftersales.db* .mypy_cache .ruff_cache .pytest_cache
