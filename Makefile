# The stable commands of ../shared/contract/OPERATIONS.md. Everything runs from the lock file.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_VERSION ?= 3.11
UV ?= $(shell command -v uv 2>/dev/null || echo "python3 -m uv")
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.synced
export PYTHONPATH :=
export AIRFLOW_HOME ?= $(CURDIR)/.airflow

.PHONY: help setup run test test-system-packages night summary bench lint clean

help:
	@echo "make run                  the demo: portal + nightly DAG for the demo nights + KPI summary"
	@echo "make test                 the whole test suite (what CI runs)"
	@echo "make setup                virtualenv from uv.lock + Airflow home (idempotent)"
	@echo "make night AS_OF=YYYY-MM-DD   one nightly run against connection commune_portal"
	@echo "make summary              KPI summary of the published serving.duckdb"
	@echo "make lint                 ruff"

$(STAMP): pyproject.toml uv.lock
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
		{ echo "setup: installing uv (pip) …"; python3 -m pip install --quiet uv; }
	@echo "setup: creating $(VENV) from uv.lock …"
	$(UV) sync --frozen --python $(PYTHON_VERSION) --compile-bytecode
	@touch $@

setup: $(STAMP)
	@$(PY) -m commune_dx.cli setup

run: setup
	@$(PY) -m commune_dx.cli demo

night: setup
	@test -n "$(AS_OF)" || { echo "usage: make night AS_OF=YYYY-MM-DD"; exit 2; }
	@$(PY) -m commune_dx.cli night --as-of "$(AS_OF)"

summary: setup
	@$(PY) -m commune_dx.cli summary

# Test-only system packages: Debian's chromium renders the HTML report in tests/test_report.py.
test-system-packages:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "test: installing Debian's chromium for the report test (apt-get) …"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

test: setup test-system-packages
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf .airflow data/warehouse dbt_project/target dbt_project/logs
