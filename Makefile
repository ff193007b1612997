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

.PHONY: help setup run test test-system-packages night summary up down bench lint clean bi bi-setup

help:
	@echo "make run                  the demo: portal + nightly DAG for the demo nights + KPI summary"
	@echo "make test                 the whole test suite (what CI runs)"
	@echo "make setup                virtualenv from uv.lock + Airflow home (idempotent)"
	@echo "make night AS_OF=YYYY-MM-DD   one nightly run against connection commune_portal"
	@echo "make summary [AS_OF=YYYY-MM-DD]  KPI summary of the published serving.duckdb (default: latest night)"
	@echo "make up / make down       start / stop the deployed topology here: PostgreSQL + Airflow"
	@echo "                          api-server, scheduler, dag-processor, triggerer (+ demo portal)"
	@echo "make bi                   Superset with the Steering Committee dashboard on 127.0.0.1 (BI_PORT, 8088)"
	@echo "make up EXECUTOR=celery   the same with the CeleryExecutor, Redis and two workers"
	@echo "make lint                 ruff"

BI_VENV := .venv-bi
BI_STAMP := $(BI_VENV)/.synced
ENSURE_UV = command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 || \
	{ echo "setup: installing uv (pip) …"; python3 -m pip install --quiet uv; }

$(STAMP): pyproject.toml uv.lock
	@$(ENSURE_UV)
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
	@$(PY) -m commune_dx.cli summary $(if $(AS_OF),--as-of "$(AS_OF)")

# The stack of docker-compose.yaml without Docker; state (PostgreSQL data, logs, pid files,
# passwords) in .state/. `make up` installs Debian's postgresql when it is missing (as root).
# EXECUTOR=celery: the CeleryExecutor, Debian's redis-server (installed if missing) as its broker
# and two workers; see deploy/README.md for what runs where.
EXECUTOR ?= local
up: setup
	@$(PY) -m commune_dx.stack up --executor $(EXECUTOR)

down:
	@$(PY) -m commune_dx.stack down

# Superset in an environment of its own (.venv-bi), from deploy/superset/uv.lock, apart from Airflow's.
$(BI_STAMP): deploy/superset/pyproject.toml deploy/superset/uv.lock
	@$(ENSURE_UV)
	@echo "bi: creating $(BI_VENV) (Apache Superset) from deploy/superset/uv.lock …"
	UV_PROJECT_ENVIRONMENT=$(CURDIR)/$(BI_VENV) $(UV) sync --frozen --project deploy/superset \
		--python $(PYTHON_VERSION)
	@touch $@

bi-setup: $(BI_STAMP)

# In the foreground: Ctrl-C stops Superset. Reads $$WAREHOUSE_DIR/serving.duckdb (make run first).
bi: $(BI_STAMP)
	@deploy/superset/run-local.sh

# Test-only system packages from Debian: chromium renders the HTML report (tests/test_report.py,
# tests/e2e/test_report_of_a_night.py) and, driven by chromium-driver, the Superset dashboard
# (tests/e2e/test_superset.py); docker-compose (a Compose client, no engine) validates
# docker-compose.yaml (tests/test_compose.py); postgresql runs the stack of `make up`
# (tests/e2e/test_stack.py), redis-server its Celery broker (tests/e2e/test_celery.py).
test-system-packages:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing="$$missing postgresql"; \
	command -v redis-server >/dev/null 2>&1 || missing="$$missing redis-server"; \
	command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || \
		missing="$$missing docker-compose"; \
	if [ -n "$$missing" ]; then \
		echo "test: installing Debian's$$missing for the report, compose and stack tests (apt-get) …"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

test: setup test-system-packages bi-setup
	$(VENV)/bin/pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

clean:
	rm -rf .airflow .superset data/warehouse dbt_project/target dbt_project/logs

# The national-scale benchmark of issues 7 and 17 (5 years of history): bench/results.json and
# bench/RESULTS.md; method in bench/README.md.
bench: $(STAMP)
	$(PY) -m bench.run_bench
