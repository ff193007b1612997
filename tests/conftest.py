"""Shared fixtures: a real demo portal on loopback and helpers to run the real nightly DAG."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from commune_dx.cli import airflow_env
from commune_dx.settings import MART_TABLES, REPO_ROOT
from demo_portal.server import start_demo_portal

DEMO_AS_OF = "2025-09-21"
# Marts whose rows are per night (as_of_date); the others hold every period loaded so far.
NIGHTLY_MARTS = {"task_status", "task_completion", "task_watchlist", "phase_status", "phase_summary",
                 "province_kpis", "commune_scorecard", "unit_fix_list", "unit_pull_status"}
# Columns that say when or by which run something was pulled: they differ between runs.
# Columns that carry the clock of the night that wrote them: they differ between a warehouse
# built over several nights and one built in one, with the same figures.
RUN_COLUMNS = {"quarantine": ["first_seen_at", "checked_at"],
               "unit_pull_status": ["finished_at", "run_id", "versions_received"],
               **{table: ["loaded_at"] for table in (
                   "connectivity_monthly", "digital_skills_monthly", "public_services_monthly",
                   "capacity_quarterly")}}


@pytest.fixture(scope="session")
def portal() -> Iterator[object]:
    """The bundled demo portal, serving on a free loopback port for the whole session."""
    running = start_demo_portal(host="127.0.0.1", port=0, token="test-token")
    yield running
    running.stop()


@dataclass
class NightResult:
    returncode: int
    output: str


def night_command(as_of: str) -> list[str]:
    return [sys.executable, "-m", "commune_dx.cli", "night", "--as-of", as_of]


def night_env(warehouse: Path, connection: str | None, extra_env: dict[str, str] | None = None) -> dict:
    env = airflow_env()
    env["WAREHOUSE_DIR"] = str(warehouse)
    env.pop("AIRFLOW_CONN_COMMUNE_PORTAL", None)
    if connection is not None:
        env["AIRFLOW_CONN_COMMUNE_PORTAL"] = connection
    env.update(extra_env or {})
    return env


def run_night_cli(
    as_of: str, warehouse: Path, connection: str | None, extra_env: dict[str, str] | None = None
) -> NightResult:
    """Run ``python -m commune_dx.cli night`` (the body of ``make night``) as a subprocess."""
    done = subprocess.run(
        night_command(as_of), env=night_env(warehouse, connection, extra_env), cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=600, check=False,
    )
    return NightResult(done.returncode, done.stdout + done.stderr)


def marts_digest(db: Path, as_of: str | None = None, tables=MART_TABLES,
                 units: set[str] | None = None) -> dict[str, str]:
    """An order-independent digest of each mart of ``tables``: nightly marts limited to ``as_of``
    if given, every mart to the rows of ``units`` if given."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        out = {}
        for table in tables:
            exclude = RUN_COLUMNS.get(table)
            columns = f"* EXCLUDE ({', '.join(exclude)})" if exclude else "*"
            where = ["list_contains($units, unit_code)"] if units is not None else []
            if as_of and table in NIGHTLY_MARTS:
                where.append(f"as_of_date = DATE '{as_of}'")
            params = {"units": sorted(units)} if units is not None else {}
            rows = con.execute(f"SELECT {columns} FROM marts.{table}"
                               + (f" WHERE {' AND '.join(where)}" if where else ""), params).fetchall()
            out[table] = hashlib.sha256(repr(sorted(map(repr, rows))).encode()).hexdigest()
        return out
    finally:
        con.close()


@pytest.fixture(scope="session")
def clean_night(portal, tmp_path_factory) -> tuple[Path, NightResult]:
    """One uninterrupted, fault-free night reporting on 2025-09-21 into a fresh warehouse: the
    reference other runs are compared with. Tests may rerun nights in it only if they leave its
    marts as they were."""
    warehouse = tmp_path_factory.mktemp("clean-warehouse")
    portal.set_clock("2025-09-22T01:00:00+07:00")
    result = run_night_cli(DEMO_AS_OF, warehouse, connection_json(portal.url, portal.token))
    assert result.returncode == 0, result.output[-4000:]
    return warehouse, result


def connection_json(url: str, token: str) -> str:
    return json.dumps({"conn_type": "http", "host": url, "password": token})


@pytest.fixture(scope="session", autouse=True)
def _airflow_home_ready() -> None:
    """The tests run Airflow against the project's Airflow home; make sure it exists."""
    env = {**os.environ, **airflow_env()}
    subprocess.run([sys.executable, "-m", "commune_dx.cli", "setup"], env=env, check=True,
                   capture_output=True)
