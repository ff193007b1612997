"""End to end: the real DAG (`airflow dags test`), real GX, real dbt, real DuckDB files,
against the bundled demo portal on loopback."""

from __future__ import annotations

import duckdb
import pytest

from commune_dx.settings import MART_TABLES
from demo_portal.demo_data import build_demo_dataset
from demo_portal.task_data import PHASE_ONE_GREEN_SINCE
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


def test_phase_one_green_status_as_published(night):
    """Phase 1 of the central monitoring plan: the province Green since a day in July 2025 and
    all 148 communes Green, as the Steering Committee published for 21 September 2025."""
    warehouse, _ = night
    con = duckdb.connect(str(warehouse / "serving.duckdb"), read_only=True)
    try:
        summary = {
            phase: rest
            for phase, *rest in con.execute(
                "SELECT phase, communes_total, communes_green, communes_green_rate, agencies_total, "
                "agencies_green, province_green, province_green_since FROM marts.phase_summary "
                "WHERE as_of_date = DATE '2025-09-21' AND province_code = '25'"
            ).fetchall()
        }
        statuses = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE is_green) FROM marts.phase_status "
            "WHERE as_of_date = DATE '2025-09-21' AND phase = 1"
        ).fetchone()
    finally:
        con.close()
    assert summary[1] == [148, 148, 1.0, 16, 16, True, PHASE_ONE_GREEN_SINCE]
    assert PHASE_ONE_GREEN_SINCE.year == 2025 and PHASE_ONE_GREEN_SINCE.month == 7
    assert statuses == (164, 164)
    # phase 2 (the central tasks) is under way: the province is not Green for it
    assert summary[2][5] is False and summary[2][6] is None


def test_capacity_marts_show_the_quarter(night):
    """Every unit's counted 2025-Q3 capacity report, summed per province; the quarter is not
    covered by the reporting calendar before October."""
    warehouse, _ = night
    dataset = build_demo_dataset()
    filers = {
        v["unit_code"] for v in dataset.submissions
        if v["submission_id"] == f"CP-{v['unit_code']}-2025-Q3"
    }
    con = duckdb.connect(str(warehouse / "serving.duckdb"), read_only=True)
    try:
        units = {r[0]: r[1:] for r in con.execute(
            "SELECT unit_code, province_code, has_dx_specialist, steering_committee, vulnerabilities_open "
            "FROM marts.capacity_quarterly WHERE period = '2025-Q3'"
        ).fetchall()}
        province = con.execute(
            "SELECT units_reporting, agencies_reporting + communes_reporting, units_with_dx_specialist, "
            "units_with_steering_committee, officials_total, trained_rate FROM "
            "marts.capacity_province_quarterly WHERE period = '2025-Q3' AND province_code = '25'"
        ).fetchone()
        sums = con.execute(
            "SELECT sum(officials_total), sum(officials_trained_dx) FROM marts.capacity_quarterly "
            "WHERE period = '2025-Q3'"
        ).fetchone()
        capacity_expected = con.execute(
            "SELECT count(*) FROM marts.reporting_completeness WHERE form = 'capacity_report'"
        ).fetchone()[0]
        reasons = " ".join(r[0] for r in con.execute(
            "SELECT reasons FROM marts.quarantine WHERE form = 'capacity_report'"
        ).fetchall())
    finally:
        con.close()
    assert set(units) == filers and {u[0] for u in units.values()} == {"25"}
    assert province[:2] == (len(filers), len(filers))
    assert province[2] == sum(u[1] for u in units.values()) < len(filers)  # units without a specialist
    assert province[3] == sum(u[2] for u in units.values()) < len(filers)  # nor a committee
    assert any(u[3] > 0 for u in units.values())
    assert province[4] == sums[0] and province[5] == pytest.approx(sums[1] / sums[0])
    assert capacity_expected == 0  # 2025-Q3 ends in September: not covered on 2025-09-21
    for reason in ("dx_specialists must not exceed officials_total", "was not active during period 2025-Q2",
                   "lies after the submission date", "is not a quarter YYYY-Qn"):
        assert reason in reasons


def test_province_kpis_and_watchlist(night):
    warehouse, _ = night
    con = duckdb.connect(str(warehouse / "serving.duckdb"), read_only=True)
    try:
        kpis = con.execute(
            "SELECT province_code, province_name, communes_active, agencies_active, tasks_central_total, "
            "tasks_central_completed, tasks_central_not_completed, kpi_period, dead_zone_villages "
            "FROM marts.province_kpis WHERE as_of_date = DATE '2025-09-21'"
        ).fetchall()
        watch = con.execute(
            "SELECT count(*), count(*) FILTER (WHERE source = 'central'), "
            "count(*) FILTER (WHERE risk = 'overdue'), count(*) FILTER (WHERE days_to_deadline < 0) "
            "FROM marts.task_watchlist WHERE as_of_date = DATE '2025-09-21'"
        ).fetchone()
        not_completed = con.execute(
            "SELECT not_completed FROM marts.task_completion WHERE as_of_date = DATE '2025-09-21' "
            "AND scope = 'province' AND scope_code = 'all'"
        ).fetchone()[0]
    finally:
        con.close()
    assert kpis == [("25", "Tỉnh Phú Thọ", 148, 16, 135, 79, 56, "2025-08", 24)]
    assert watch[0] == not_completed and watch[1] == 56
    assert watch[2] == watch[3] > 0
