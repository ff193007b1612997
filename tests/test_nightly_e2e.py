"""End to end: the real DAG (`airflow dags test`), real GX, real dbt, real DuckDB files,
against the bundled demo portal on loopback."""

from __future__ import annotations

import duckdb
import pytest

from commune_dx.settings import MART_TABLES
from tests.conftest import connection_json, marts_digest, run_night_cli

pytestmark = pytest.mark.e2e
AS_OF = "2025-09-21"


@pytest.fixture(scope="module")
def night(clean_night):
    return clean_night


def test_published_figures_match_the_province(night):
    warehouse, result = night
    con = duckdb.connect(str(warehouse / "serving.duckdb"), read_only=True)
    try:
        total, completed, in_progress, overdue = con.execute(
            "SELECT tasks_total, completed, in_progress, overdue FROM marts.task_completion "
            "WHERE as_of_date = DATE '2025-09-21' AND scope = 'province' AND scope_code = 'central'"
        ).fetchone()
        dead_zones = con.execute(
            "SELECT dead_zone_villages FROM marts.connectivity_province_monthly "
            "WHERE period = '2025-08'"
        ).fetchone()[0]
    finally:
        con.close()
    assert (total, completed, total - completed) == (135, 79, 56)
    assert in_progress + overdue == 56
    assert dead_zones == 24
    assert "135 total, 79 completed, 56 not completed" in result.output
    assert "2025-08: 24" in result.output


def test_every_mart_is_published_as_parquet(night):
    warehouse, _ = night
    con = duckdb.connect()
    for table in MART_TABLES:
        parquet = warehouse / "marts" / f"{table}.parquet"
        assert parquet.exists(), table
        served = duckdb.connect(str(warehouse / "serving.duckdb"), read_only=True)
        expected = served.execute(f"SELECT count(*) FROM marts.{table}").fetchone()[0]
        served.close()
        assert con.execute(f"SELECT count(*) FROM read_parquet('{parquet}')").fetchone()[0] == expected


def test_invalid_versions_are_quarantined_not_counted(night):
    warehouse, _ = night
    con = duckdb.connect(str(warehouse / "warehouse.duckdb"), read_only=True)
    try:
        invalid = con.execute(
            "SELECT count(*) FROM raw.validation_results WHERE NOT is_valid"
        ).fetchone()[0]
        quarantined = con.execute("SELECT count(*) FROM marts.quarantine").fetchone()[0]
        no_reason = con.execute(
            "SELECT count(*) FROM marts.quarantine WHERE reasons IS NULL OR reasons = ''"
        ).fetchone()[0]
    finally:
        con.close()
    assert invalid > 0
    assert quarantined == invalid
    assert no_reason == 0


def test_rerunning_the_same_night_gives_identical_marts(night, portal):
    warehouse, _ = night
    before = marts_digest(warehouse / "serving.duckdb")
    again = run_night_cli(AS_OF, warehouse, connection_json(portal.url, portal.token))
    assert again.returncode == 0, again.output[-4000:]
    assert marts_digest(warehouse / "serving.duckdb") == before
    # Everything the rerun received was stored by the first run, with its verdict: nothing is
    # validated again.
    assert "validated 0 versions" in again.output
    assert " already stored, not checked again" in again.output
    # dbt ran inside dbt_build: its own lines are in the task log, and it re-used its parse.
    log = (warehouse / "logs" / f"night-{AS_OF}.log").read_text(encoding="utf-8")
    assert "Completed successfully" in log and "[commune_dx.dbt]" in log
    assert "Unable to do partial parsing" not in log
    assert "dbt build green in" in log
