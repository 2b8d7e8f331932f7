# RepairOps: `make run` serves a demo on http://127.0.0.1:5000; `make test` runs every check.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
CONSTRAINTS := constraints.txt
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := backend

.PHONY: run test install install-test lint typecheck pytest openapi contracts migrate demo bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel

$(VENV)/.installed: $(BIN)/python pyproject.toml $(CONSTRAINTS)
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -c $(CONSTRAINTS) -e '.[test]'
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

migrate: install
	$(BIN)/flask migrate

demo: migrate
	$(BIN)/flask demo --if-empty

run: demo
	$(BIN)/flask run --host $(HOST) --port $(PORT)

lint: install-test
	$(BIN)/ruff check backend tests bench mobile_contracts alembic
	$(BIN)/ruff format --check backend tests bench mobile_contracts alembic
	$(BIN)/lint-imports

typecheck: install-test
	$(BIN)/mypy backend

pytest: install-test
	$(BIN)/pytest -n 2

test: lint typecheck pytest

openapi: install
	$(BIN)/flask openapi

contracts: install
	$(BIN)/flask contracts

bench: install-test
	$(BIN)/python bench/sync_bench.py
	$(BIN)/python bench/feed_backlog_bench.py
	$(BIN)/python bench/geo_bench.py

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
