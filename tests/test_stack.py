"""The deployed topology's configuration (``commune_dx.stack``), without starting it: where its
state lives, the secrets it makes once, and the environment every process of ``make up`` gets.
The stack itself runs in ``tests/e2e/test_stack.py`` and ``tests/e2e/test_celery.py``."""

from __future__ import annotations

import json
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from commune_dx import stack as st
from commune_dx.cli import DEMO_TOKEN


@pytest.fixture()
def stack(tmp_path: Path, monkeypatch) -> st.Stack:
    monkeypatch.delenv("AIRFLOW_CONN_COMMUNE_PORTAL", raising=False)
    monkeypatch.delenv("COMMUNE_DEFAULT_AS_OF_DATE", raising=False)
    return st.Stack(state_dir=tmp_path / "state", warehouse_dir=tmp_path / "warehouse")


def test_ports_and_state_come_from_the_environment(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("COMMUNE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("COMMUNE_API_PORT", "18080")
    monkeypatch.setenv("COMMUNE_POSTGRES_PORT", "")  # empty: the default
    found = st.Stack.from_env("celery")
    assert (found.state_dir, found.api_port, found.postgres_port) == (tmp_path / "state", 18080, 5439)
    assert found.celery and found.ui_url == "http://127.0.0.1:18080"
    assert found.airflow_home == tmp_path / "state" / "airflow"


def test_the_secrets_are_made_once_and_readable_by_the_owner_only(stack: st.Stack):
    first = st.stack_env(stack)
    secrets_file = json.loads(stack.secrets_file.read_text(encoding="utf-8"))
    assert stat.S_IMODE(stack.secrets_file.stat().st_mode) == 0o600
    assert first["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == (
        f"postgresql+psycopg2://airflow:{secrets_file['postgres']}@127.0.0.1:{stack.postgres_port}/airflow")
    assert first["AIRFLOW__API_AUTH__JWT_SECRET"] == secrets_file["jwt"]
    assert st.stack_env(stack) == first  # the next `make up` finds the same secrets


def test_a_demo_stack_talks_to_the_demo_portal_about_the_demo_day(stack: st.Stack):
    env = st.stack_env(stack)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert env["WAREHOUSE_DIR"] == str(stack.warehouse_dir)
    assert json.loads(env["AIRFLOW_CONN_COMMUNE_PORTAL"]) == {
        "conn_type": "http", "host": f"http://127.0.0.1:{stack.portal_port}", "password": DEMO_TOKEN}
    assert env["COMMUNE_DEFAULT_AS_OF_DATE"] == st.DEMO_DAY
    assert "AIRFLOW__CELERY__BROKER_URL" not in env


def test_a_stack_with_its_own_portal_keeps_its_connection(stack: st.Stack):
    own = json.dumps({"conn_type": "http", "host": "https://portal.province.example", "password": "s3cret"})
    env = st.stack_env(replace(stack, extra_env={"AIRFLOW_CONN_COMMUNE_PORTAL": own}))
    assert env["AIRFLOW_CONN_COMMUNE_PORTAL"] == own
    assert "COMMUNE_DEFAULT_AS_OF_DATE" not in env


def test_a_celery_stack_has_a_locked_broker_and_one_warehouse_worker(stack: st.Stack, monkeypatch):
    celery = replace(stack, executor="celery")
    env = st.stack_env(celery)
    password = json.loads(celery.secrets_file.read_text(encoding="utf-8"))["redis"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == f"redis://:{password}@127.0.0.1:{celery.redis_port}/0"
    assert env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] == "commune_dx.settings.worker_hostname"
    monkeypatch.setenv("COMMUNE_PULL_QUEUE", "pulls")
    monkeypatch.setenv("COMMUNE_WAREHOUSE_QUEUE", "duckdb-owner")
    assert [st.worker_queues(celery, owns) for owns in st.WORKERS.values()] == [
        ["pulls", "duckdb-owner"], ["pulls"]]
