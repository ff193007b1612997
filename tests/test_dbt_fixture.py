"""The dbt project end to end on a hand-built raw layer.

Builds `raw.*` (docs/ARCHITECTURE.md, "Raw layer") in a temporary `warehouse.duckdb`, loads a
small fixture in two batches, runs the real `dbt build` for two nights (2025-08-21, then
2025-09-21, then 2025-09-21 again) and checks the marts against numbers worked out by hand
below. Every `dbt build` must be green: its data tests and unit tests run too.

The fixture (province 25):

    units   10001 xã, population 1000          active from 2025-07-01
            10002 phường, population NULL      (reference list: 2000)
            10003 xã, population unknown        active 2025-07-01 .. 2025-08-10 only
            A25-SNV provincial agency
    tasks   T-C1 central,    10001, assigned 07-01, deadline 08-15 -> completed 08-15 (on the deadline)
            T-C2 central,    10001, assigned 07-01, deadline 08-15 -> completed 08-16 (a day late)
            T-P1 provincial, 10002, assigned 07-10, deadline 08-31 -> never reported
            T-P2 provincial, A25-SNV, assigned 08-01, deadline 09-30 -> in progress
            T-P3 provincial, 10002, assigned 09-01, deadline 12-31 -> never reported

Edge cases: a correction (conn-10001-07 v2), a withdrawal (ds-10002-07 v2), an invalid newer
version (ps-10001-07 v2), an invalid only version (ps-10002-08), a version re-served with
other bytes (conn-10002-07 v1, two content hashes), two submissions for one unit/form/period
(ds-10003-07a/b), reports at 23:59:59 on the 5th and at 00:00:00 on the 6th, zero
denominators (10002 has no office computer and no dossier).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest

from commune_dx.settings import DBT_PROJECT_DIR, MART_TABLES

RAW_DDL = """
create schema if not exists raw;
create table raw.submission_versions (
    submission_id varchar, version integer, unit_code varchar, form varchar,
    form_version integer, period varchar, status varchar, submitted_at timestamptz,
    updated_at timestamptz, record varchar, content_hash varchar,
    pulled_at timestamptz, run_id varchar
);
create table raw.validation_results (
    submission_id varchar, version integer, content_hash varchar, is_valid boolean,
    reasons varchar, checked_at timestamptz
);
create table raw.units (
    unit_code varchar, unit_name varchar, unit_type varchar, province_code varchar,
    population bigint, active_from date, active_to date, pulled_at timestamptz
);
create table raw.tasks (
    task_code varchar, title varchar, task_group varchar, source varchar,
    assigned_unit_code varchar, assigned_on date, deadline date, pulled_at timestamptz,
    phase integer
);
create table raw.reference_communes (
    province_code varchar, province_name varchar, commune_code varchar, commune_name varchar,
    commune_type varchar, full_name varchar, name_en varchar, area_km2 double,
    population bigint, lat double, lon double
);
create table raw.unit_pulls (
    run_id varchar, as_of_date date, unit_code varchar, outcome varchar, error varchar,
    versions_received integer, finished_at timestamptz, note varchar
);
create table raw.watermarks (unit_code varchar, updated_at timestamptz, submission_id varchar);
"""

# The fixture tables, one row a line. fmt: off keeps them tabular.
# fmt: off
UNITS = [
    ("10001", "Xã An Khang", "xa", "25", 1000, "2025-07-01", None),
    ("10002", "Phường Bình Minh", "phuong", "25", None, "2025-07-01", None),
    ("10003", "Xã Cẩm Khê", "xa", "25", None, "2025-07-01", "2025-08-10"),
    ("A25-SNV", "Sở Nội vụ", "agency", "25", None, "2025-07-01", None),
]

REFERENCE_COMMUNES = [
    ("25", "Tỉnh Phú Thọ", "10001", "An Khang", "xa", "Xã An Khang", "An Khang", 30.1, 999, 21.3, 105.2),
    ("25", "Tỉnh Phú Thọ", "10002", "Bình Minh", "phuong", "Phường Bình Minh", "Binh Minh", 5.2, 2000,
     21.3, 105.4),
    ("25", "Tỉnh Phú Thọ", "10003", "Cẩm Khê", "xa", "Xã Cẩm Khê", "Cam Khe", None, None, 21.4, 105.1),
]

TASKS = [
    ("T-C1", "Fibre to every village", "infrastructure", "central", "10001", "2025-07-01", "2025-08-15"),
    ("T-C2", "Replace outdated office PCs", "infrastructure", "central", "10001", "2025-07-01", "2025-08-15"),
    ("T-P1", "Train every official", "human_resources", "provincial", "10002", "2025-07-10", "2025-08-31"),
    ("T-P2", "Digitise civil status records", "digital_government", "provincial", "A25-SNV",
     "2025-08-01", "2025-09-30"),
    ("T-P3", "Public Wi-Fi at the ward office", "infrastructure", "provincial", "10002",
     "2025-09-01", "2025-12-31"),
]


def connectivity(vt, no, weak, hh, fiber, comp, old, mbps, outage):
    return {
        "villages_total": vt, "villages_no_signal": no, "villages_weak_signal": weak,
        "households_total": hh, "households_fiber": fiber, "office_computers_total": comp,
        "office_computers_outdated": old, "office_bandwidth_mbps": mbps,
        "internet_outage_hours": outage,
    }


def skills(sessions, officials, citizens, students, completed, vneid):
    return {
        "sessions_held": sessions, "participants_officials": officials,
        "participants_citizens": citizens, "participants_students": students,
        "people_completed_basic": completed, "vneid_activations": vneid,
    }


def services(received, online, full_online, processed, on_time):
    return {
        "dossiers_received": received, "dossiers_online": online,
        "dossiers_full_online": full_online, "dossiers_processed": processed,
        "dossiers_processed_on_time": on_time,
    }


def task(code, status, pct, completed_on=None, note=None):
    return {"task_code": code, "status": status, "progress_pct": pct,
            "completed_on": completed_on, "note": note}


XSS_NOTE = "<script>alert('x')</script> & \"quoted\" -- Đang triển khai"

# (submission_id, version, unit, form, period, status, submitted_at, updated_at, payload,
#  reasons (None = valid), pulled_at). Times are local (+07:00) unless written otherwise.
BATCH_NIGHT_1 = [
    # correction: v2 keeps v1's submitted_at and replaces the figures
    ("conn-10001-07", 1, "10001", "connectivity_report", "2025-07", "submitted",
     "2025-08-03 09:00:00+07", "2025-08-03 09:00:00+07",
     connectivity(10, 2, 1, 500, 100, 10, 4, 100, 5), None, "2025-08-04 01:05:00+07"),
    ("conn-10001-07", 2, "10001", "connectivity_report", "2025-07", "submitted",
     "2025-08-03 09:00:00+07", "2025-08-10 14:00:00+07",
     connectivity(10, 1, 1, 500, 150, 10, 4, 100, 5), None, "2025-08-11 01:05:00+07"),
    # filed at 23:59:59 on the 5th (on time); no office computer (zero denominator)
    ("conn-10002-07", 1, "10002", "connectivity_report", "2025-07", "submitted",
     "2025-08-05 23:59:59+07", "2025-08-05 23:59:59+07",
     connectivity(8, 0, 0, 400, 200, 0, 0, 50, 0), None, "2025-08-06 01:05:00+07"),
    # filed at 00:00:00 on the 6th (late)
    ("conn-10003-07", 1, "10003", "connectivity_report", "2025-07", "submitted",
     "2025-08-06 00:00:00+07", "2025-08-06 00:00:00+07",
     connectivity(6, 3, 1, 300, 30, 5, 5, 20, 48), None, "2025-08-07 01:05:00+07"),
    ("ds-10001-07", 1, "10001", "digital_skills_report", "2025-07", "submitted",
     "2025-08-01 10:00:00+07", "2025-08-01 10:00:00+07",
     skills(2, 10, 40, 0, 30, 12), None, "2025-08-02 01:05:00+07"),
    # withdrawal: v2 withdraws, the submission counts nowhere
    ("ds-10002-07", 1, "10002", "digital_skills_report", "2025-07", "submitted",
     "2025-08-02 10:00:00+07", "2025-08-02 10:00:00+07",
     skills(1, 5, 10, 5, 20, 3), None, "2025-08-03 01:05:00+07"),
    ("ds-10002-07", 2, "10002", "digital_skills_report", "2025-07", "withdrawn",
     "2025-08-02 10:00:00+07", "2025-08-12 10:00:00+07",
     skills(1, 5, 10, 5, 20, 3), None, "2025-08-13 01:05:00+07"),
    # two submissions for one unit/form/period: the later updated_at (b) wins
    ("ds-10003-07a", 1, "10003", "digital_skills_report", "2025-07", "submitted",
     "2025-08-02 08:00:00+07", "2025-08-02 08:00:00+07",
     skills(1, 2, 8, 0, 10, 1), None, "2025-08-03 01:05:00+07"),
    ("ds-10003-07b", 1, "10003", "digital_skills_report", "2025-07", "submitted",
     "2025-08-04 08:00:00+07", "2025-08-04 08:00:00+07",
     skills(2, 3, 12, 1, 16, 2), None, "2025-08-05 01:05:00+07"),
    # invalid newer version: v2 is quarantined, v1 still counts
    ("ps-10001-07", 1, "10001", "public_service_report", "2025-07", "submitted",
     "2025-08-05 17:00:00+07", "2025-08-05 17:00:00+07",
     services(100, 80, 40, 90, 81), None, "2025-08-06 01:05:00+07"),
    ("ps-10001-07", 2, "10001", "public_service_report", "2025-07", "submitted",
     "2025-08-05 17:00:00+07", "2025-08-15 09:00:00+07",
     services(100, 80, 90, 90, 81),
     "x-rules: dossiers_full_online <= dossiers_online <= dossiers_received",
     "2025-08-16 01:05:00+07"),
    # no dossier at all: every rate has a zero denominator
    ("ps-10002-07", 1, "10002", "public_service_report", "2025-07", "submitted",
     "2025-08-04 11:00:00+07", "2025-08-04 11:00:00+07",
     services(0, 0, 0, 0, 0), None, "2025-08-05 01:05:00+07"),
    ("task-10001-0731", 1, "10001", "task_report", "2025-07-31", "submitted",
     "2025-07-31 16:00:00+07", "2025-07-31 16:00:00+07",
     {"tasks": [task("T-C1", "in_progress", 50), task("T-C2", "not_started", 0)]},
     None, "2025-08-01 01:05:00+07"),
    ("task-10001-0820", 1, "10001", "task_report", "2025-08-20", "submitted",
     "2025-08-20 16:00:00+07", "2025-08-20 16:00:00+07",
     {"tasks": [task("T-C1", "completed", 100, "2025-08-15"),
                task("T-C2", "completed", 100, "2025-08-16", "Đã hoàn thành")]},
     None, "2025-08-21 01:05:00+07"),
    ("task-SNV-0820", 1, "A25-SNV", "task_report", "2025-08-20", "submitted",
     "2025-08-20 17:00:00+07", "2025-08-20 17:00:00+07",
     {"tasks": [task("T-P2", "in_progress", 50, None, XSS_NOTE)]},
     None, "2025-08-21 01:05:00+07"),
]

# conn-10002-07 v1 served a second time with other bytes: the first pulled record decides.
RESERVED_RECORD = (
    "conn-10002-07", 1, "10002", "connectivity_report", "2025-07", "submitted",
    "2025-08-05 23:59:59+07", "2025-08-05 23:59:59+07",
    connectivity(8, 0, 0, 400, 100, 0, 0, 50, 0), None, "2025-08-22 01:05:00+07",
)

BATCH_NIGHT_2 = [
    ("conn-10001-08", 1, "10001", "connectivity_report", "2025-08", "submitted",
     "2025-09-02 09:00:00+07", "2025-09-02 09:00:00+07",
     connectivity(10, 1, 0, 500, 200, 10, 2, 100, 2), None, "2025-09-03 01:05:00+07"),
    ("ds-10001-08", 1, "10001", "digital_skills_report", "2025-08", "submitted",
     "2025-09-03 09:00:00+07", "2025-09-03 09:00:00+07",
     skills(3, 10, 60, 10, 50, 20), None, "2025-09-04 01:05:00+07"),
    # 00:00:00 on the 6th (late); 10002's July report was withdrawn, so cumulative = 40
    ("ds-10002-08", 1, "10002", "digital_skills_report", "2025-08", "submitted",
     "2025-09-05 17:00:00+00", "2025-09-05 17:00:00+00",
     skills(2, 5, 45, 0, 40, 10), None, "2025-09-07 01:05:00+07"),
    # 23:59:59 on the 5th, written in UTC (16:59:59Z): on time
    ("ps-10001-08", 1, "10001", "public_service_report", "2025-08", "submitted",
     "2025-09-05 16:59:59+00", "2025-09-05 16:59:59+00",
     services(120, 100, 96, 100, 95), None, "2025-09-06 01:05:00+07"),
    # the only version is invalid: quarantined, not received
    ("ps-10002-08", 1, "10002", "public_service_report", "2025-08", "submitted",
     "2025-09-04 10:00:00+07", "2025-09-04 10:00:00+07",
     services(10, 20, 5, 10, 10), "x-rules: dossiers_online <= dossiers_received",
     "2025-09-05 01:05:00+07"),
]

PULLS_NIGHT_1 = [
    ("night-2025-08-21", "2025-08-21", code, "ok", None, 1, "2025-08-22 01:06:00+07")
    for code in ("10001", "10002", "10003", "A25-SNV")
]
PULLS_NIGHT_2 = [
    ("night-2025-09-21", "2025-09-21", "10001", "ok", None, 3, "2025-09-22 01:06:00+07"),
    ("night-2025-09-21", "2025-09-21", "10002", "failed", "timed out after 5 retries", 0,
     "2025-09-22 01:07:00+07"),
    ("night-2025-09-21", "2025-09-21", "A25-SNV", "ok", None, 0, "2025-09-22 01:06:00+07"),
]

# fmt: on


def _insert_submissions(con: duckdb.DuckDBPyConnection, items, run_id: str) -> None:
    """Insert fixture versions as `load` would: the record verbatim, its hash, its validation."""
    for row in items:
        sid, version, unit, form, period, status, submitted, updated, payload, reasons, pulled = row
        item = {
            "submission_id": sid,
            "unit_code": unit,
            "form": form,
            "form_version": 1,
            "period": period,
            "version": version,
            "status": status,
            "submitted_at": submitted,
            "updated_at": updated,
            "payload": payload,
        }
        record = json.dumps(item, ensure_ascii=False)
        digest = hashlib.sha256(record.encode()).hexdigest()
        envelope = [sid, version, unit, form, period, status, submitted, updated]
        stored = [record, digest, pulled, run_id]
        con.execute(
            "insert into raw.submission_versions values (?, ?, ?, ?, 1, ?, ?, ?::timestamptz, "
            "?::timestamptz, ?, ?, ?::timestamptz, ?)",
            envelope + stored,
        )
        con.execute(
            "insert into raw.validation_results values (?, ?, ?, ?, ?, ?::timestamptz)",
            [sid, version, digest, reasons is None, reasons, pulled],
        )


def _load_reference_data(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(RAW_DDL)
    snapshot = "2025-08-22 01:00:00+07"
    for unit in UNITS:
        con.execute("insert into raw.units values (?, ?, ?, ?, ?, ?, ?, ?::timestamptz)", [*unit, snapshot])
    for row in REFERENCE_COMMUNES:
        con.execute("insert into raw.reference_communes values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", list(row))
    for row in TASKS:
        con.execute(
            "insert into raw.tasks values (?, ?, ?, ?, ?, ?, ?, ?::timestamptz, NULL)", [*row, snapshot]
        )


def _insert_pulls(con: duckdb.DuckDBPyConnection, pulls) -> None:
    for row in pulls:
        con.execute("insert into raw.unit_pulls values (?, ?, ?, ?, ?, ?, ?::timestamptz, null)", list(row))


def _dbt_executable() -> str:
    beside_python = Path(sys.executable).parent / "dbt"
    found = str(beside_python) if beside_python.exists() else shutil.which("dbt")
    if found is None:
        pytest.skip("dbt is not installed in this environment")
    return found


def _dbt_env(warehouse_dir: Path, work_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "WAREHOUSE_DIR": str(warehouse_dir),
        "DBT_TARGET_PATH": str(work_dir / "target"),
        "DBT_LOG_PATH": str(work_dir / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def _dbt_build(warehouse_dir: Path, work_dir: Path, as_of_date: str | None):
    """Run the real `dbt build` as the pipeline does; return (completed process, seconds)."""
    project = str(DBT_PROJECT_DIR)
    command = [_dbt_executable(), "build", "--project-dir", project, "--profiles-dir", project]
    if as_of_date is not None:
        command += ["--vars", f"{{as_of_date: {as_of_date}}}"]
    started = time.monotonic()
    result = subprocess.run(
        command, env=_dbt_env(warehouse_dir, work_dir), capture_output=True, text=True, timeout=600
    )
    return result, time.monotonic() - started


def _rows(con, sql: str) -> list[dict]:
    cursor = con.execute(sql)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _by(rows: list[dict], *keys: str) -> dict:
    return {tuple(str(row[k]) for k in keys) if len(keys) > 1 else str(row[keys[0]]): row for row in rows}


def _approx(value):
    return None if value is None else pytest.approx(value)


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    """Load the fixture, build night 1, load more, build night 2 twice; snapshot the marts."""
    warehouse_dir = tmp_path_factory.mktemp("warehouse")
    work_dir = tmp_path_factory.mktemp("dbt")
    database = warehouse_dir / "warehouse.duckdb"
    snapshots: dict[str, dict[str, list[dict]]] = {}
    timings: dict[str, float] = {}

    def build_and_snapshot(label: str, as_of_date: str) -> None:
        result, seconds = _dbt_build(warehouse_dir, work_dir, as_of_date)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        assert "Completed successfully" in result.stdout
        timings[label] = seconds
        with duckdb.connect(str(database), read_only=True) as con:
            con.execute("set TimeZone = 'Asia/Ho_Chi_Minh'")
            snapshots[label] = {m: _rows(con, f"select * from marts.{m}") for m in MART_TABLES}
            snapshots[label]["_schemas"] = _rows(
                con, "select distinct table_schema from information_schema.tables"
            )

    with duckdb.connect(str(database)) as con:
        _load_reference_data(con)
        _insert_submissions(con, BATCH_NIGHT_1, "night-2025-08-21")
        _insert_submissions(con, [RESERVED_RECORD], "night-2025-08-21")
        _insert_pulls(con, PULLS_NIGHT_1)
    build_and_snapshot("night_1", "2025-08-21")

    with duckdb.connect(str(database)) as con:
        _insert_submissions(con, BATCH_NIGHT_2, "night-2025-09-21")
        _insert_pulls(con, PULLS_NIGHT_2)
    build_and_snapshot("night_2", "2025-09-21")
    build_and_snapshot("night_2_rerun", "2025-09-21")

    print("dbt build timings (s):", {k: round(v, 1) for k, v in timings.items()})
    return {"snapshots": snapshots, "timings": timings, "warehouse_dir": warehouse_dir, "work_dir": work_dir}


def test_marts_live_in_schema_marts(nights):
    schemas = {row["table_schema"] for row in nights["snapshots"]["night_2"]["_schemas"]}
    assert {"raw", "staging", "intermediate", "marts", "reference"} <= schemas
    assert not any(s.startswith("main_") for s in schemas)


def test_task_status_night_1(nights):
    rows = _by(nights["snapshots"]["night_1"]["task_status"], "task_code")
    # T-P3 is assigned on 09-01, after the as-of date 2025-08-21: not listed yet.
    assert set(rows) == {"T-C1", "T-C2", "T-P1", "T-P2"}
    # T-C1: the 08-20 report says completed on 08-15 = its deadline -> on time.
    assert rows["T-C1"]["status_class"] == "completed_on_time"
    assert str(rows["T-C1"]["completed_on"]) == "2025-08-15"
    assert rows["T-C1"]["reported_period"] == "2025-08-20"
    # T-C2: completed 08-16, a day after its 08-15 deadline -> late.
    assert rows["T-C2"]["status_class"] == "completed_late"
    # T-P1: never reported, deadline 08-31 >= 08-21 -> still in progress.
    assert rows["T-P1"]["status_class"] == "in_progress"
    assert rows["T-P1"]["reported_status"] is None
    # T-P2: in progress at 50 %, deadline 09-30; its note is kept verbatim.
    assert rows["T-P2"]["status_class"] == "in_progress"
    assert rows["T-P2"]["progress_pct"] == 50.0
    assert rows["T-P2"]["note"] == XSS_NOTE


def test_task_status_keeps_every_night(nights):
    rows = nights["snapshots"]["night_2"]["task_status"]
    # 4 rows of night 1 kept + 5 rows of night 2.
    assert len(rows) == 9
    night_2 = _by([r for r in rows if str(r["as_of_date"]) == "2025-09-21"], "task_code")
    night_1 = _by([r for r in rows if str(r["as_of_date"]) == "2025-08-21"], "task_code")
    # T-P1: never reported, past its 08-31 deadline on 09-21 -> overdue (was in progress).
    assert night_2["T-P1"]["status_class"] == "overdue"
    assert night_1["T-P1"]["status_class"] == "in_progress"
    # T-P3: assigned 09-01, never reported, deadline 12-31 -> in progress.
    assert night_2["T-P3"]["status_class"] == "in_progress"
    assert night_2["T-C1"]["status_class"] == "completed_on_time"
    assert night_2["T-C2"]["status_class"] == "completed_late"


def test_task_completion(nights):
    expected = {
        # night 1: central T-C1 (on time) + T-C2 (late); provincial T-P1, T-P2 in progress.
        # (as_of, scope, code): (total, on_time, late, completed, in_progress, overdue,
        #                        completion_rate, on_time_rate)
        ("2025-08-21", "province", "central"): (2, 1, 1, 2, 0, 0, 1.0, 0.5),
        ("2025-08-21", "province", "provincial"): (2, 0, 0, 0, 2, 0, 0.0, None),  # 0 completed
        ("2025-08-21", "province", "all"): (4, 1, 1, 2, 2, 0, 0.5, 0.5),  # 2/4, 1/2
        ("2025-08-21", "unit", "10001"): (2, 1, 1, 2, 0, 0, 1.0, 0.5),
        ("2025-08-21", "unit", "10002"): (1, 0, 0, 0, 1, 0, 0.0, None),
        ("2025-08-21", "unit", "A25-SNV"): (1, 0, 0, 0, 1, 0, 0.0, None),
        ("2025-08-21", "task_group", "infrastructure"): (2, 1, 1, 2, 0, 0, 1.0, 0.5),
        ("2025-08-21", "task_group", "human_resources"): (1, 0, 0, 0, 1, 0, 0.0, None),
        ("2025-08-21", "task_group", "digital_government"): (1, 0, 0, 0, 1, 0, 0.0, None),
        # night 2: T-P1 overdue, T-P3 (10002, infrastructure) joins in progress.
        ("2025-09-21", "province", "central"): (2, 1, 1, 2, 0, 0, 1.0, 0.5),
        ("2025-09-21", "province", "provincial"): (3, 0, 0, 0, 2, 1, 0.0, None),
        ("2025-09-21", "province", "all"): (5, 1, 1, 2, 2, 1, 0.4, 0.5),  # 2/5, 1/2
        ("2025-09-21", "unit", "10001"): (2, 1, 1, 2, 0, 0, 1.0, 0.5),
        ("2025-09-21", "unit", "10002"): (2, 0, 0, 0, 1, 1, 0.0, None),
        ("2025-09-21", "unit", "A25-SNV"): (1, 0, 0, 0, 1, 0, 0.0, None),
        ("2025-09-21", "task_group", "infrastructure"): (3, 1, 1, 2, 1, 0, 2 / 3, 0.5),
        ("2025-09-21", "task_group", "human_resources"): (1, 0, 0, 0, 0, 1, 0.0, None),
        ("2025-09-21", "task_group", "digital_government"): (1, 0, 0, 0, 1, 0, 0.0, None),
    }
    rows = _by(nights["snapshots"]["night_2"]["task_completion"], "as_of_date", "scope", "scope_code")
    assert set(rows) == set(expected)
    for key, (total, on_time, late, done, in_progress, overdue, rate, on_rate) in expected.items():
        row = rows[key]
        assert (
            row["tasks_total"],
            row["completed_on_time"],
            row["completed_late"],
            row["completed"],
            row["in_progress"],
            row["overdue"],
        ) == (total, on_time, late, done, in_progress, overdue), key
        assert row["completion_rate"] == _approx(rate), key
        assert row["on_time_rate"] == _approx(on_rate), key


def test_connectivity(nights):
    rows = _by(nights["snapshots"]["night_2"]["connectivity_monthly"], "period", "unit_code")
    assert set(rows) == {
        ("2025-07", "10001"),
        ("2025-07", "10002"),
        ("2025-07", "10003"),
        ("2025-08", "10001"),
    }
    # correction: v2 counts (no signal 1 + weak 1 = 2; fibre 150/500), v1's submitted_at kept
    corrected = rows[("2025-07", "10001")]
    assert corrected["version"] == 2
    assert corrected["dead_zone_villages"] == 2
    assert corrected["fiber_household_rate"] == pytest.approx(0.3)
    assert corrected["outdated_computer_rate"] == pytest.approx(0.4)  # 4/10
    assert corrected["submitted_at"].isoformat().startswith("2025-08-03T09:00:00")
    # the first pulled record of conn-10002-07 v1 counts (fibre 200, not the re-served 100);
    # no office computer -> outdated_computer_rate NULL
    first_pulled = rows[("2025-07", "10002")]
    assert first_pulled["households_fiber"] == 200
    assert first_pulled["fiber_household_rate"] == pytest.approx(0.5)
    assert first_pulled["outdated_computer_rate"] is None
    assert rows[("2025-07", "10003")]["dead_zone_villages"] == 4  # 3 + 1
    assert rows[("2025-07", "10003")]["outdated_computer_rate"] == pytest.approx(1.0)  # 5/5

    province = _by(nights["snapshots"]["night_2"]["connectivity_province_monthly"], "period")
    july = province["2025-07"]
    # villages 10 + 8 + 6; no signal 1 + 0 + 3; weak 1 + 0 + 1; households 500 + 400 + 300;
    # fibre 150 + 200 + 30 = 380 -> 380/1200; computers 10 + 0 + 5, outdated 4 + 0 + 5 -> 9/15
    assert (
        july["units_reporting"],
        july["villages_total"],
        july["villages_no_signal"],
        july["villages_weak_signal"],
        july["households_total"],
        july["households_fiber"],
        july["office_computers_total"],
        july["office_computers_outdated"],
        july["dead_zone_villages"],
    ) == (3, 24, 4, 2, 1200, 380, 15, 9, 6)
    assert july["fiber_household_rate"] == pytest.approx(380 / 1200)
    assert july["outdated_computer_rate"] == pytest.approx(0.6)
    august = province["2025-08"]
    assert (august["units_reporting"], august["dead_zone_villages"]) == (1, 1)
    assert august["fiber_household_rate"] == pytest.approx(0.4)  # 200/500
    assert august["outdated_computer_rate"] == pytest.approx(0.2)  # 2/10


def test_digital_skills(nights):
    rows = _by(nights["snapshots"]["night_2"]["digital_skills_monthly"], "period", "unit_code")
    # ds-10002-07 was withdrawn: no July row for 10002.
    assert set(rows) == {
        ("2025-07", "10001"),
        ("2025-07", "10003"),
        ("2025-08", "10001"),
        ("2025-08", "10002"),
    }
    # 10001: 30 in July, 50 in August -> cumulative 30, 80 of population 1000
    assert rows[("2025-07", "10001")]["participants_total"] == 50  # 10 + 40 + 0
    assert rows[("2025-07", "10001")]["cumulative_completed_basic"] == 30
    assert rows[("2025-07", "10001")]["coverage_rate"] == pytest.approx(0.03)
    assert rows[("2025-08", "10001")]["cumulative_completed_basic"] == 80
    assert rows[("2025-08", "10001")]["coverage_rate"] == pytest.approx(0.08)
    # 10002: population from the reference list (2000); July withdrawn -> cumulative 40
    assert rows[("2025-08", "10002")]["population"] == 2000
    assert rows[("2025-08", "10002")]["cumulative_completed_basic"] == 40
    assert rows[("2025-08", "10002")]["coverage_rate"] == pytest.approx(0.02)
    # 10003: ds-10003-07b (later updated_at) wins over 07a; population unknown
    assert rows[("2025-07", "10003")]["submission_id"] == "ds-10003-07b"
    assert rows[("2025-07", "10003")]["people_completed_basic"] == 16
    assert rows[("2025-07", "10003")]["population"] is None
    assert rows[("2025-07", "10003")]["coverage_rate"] is None

    province = _by(nights["snapshots"]["night_2"]["digital_skills_province_monthly"], "period")
    july = province["2025-07"]
    # 10001 + 10003: sessions 2 + 2, completed 30 + 16, participants 50 + 16;
    # coverage over units with a population only: 30 / 1000
    assert (
        july["units_reporting"],
        july["sessions_held"],
        july["people_completed_basic"],
        july["participants_total"],
        july["cumulative_completed_basic"],
        july["population"],
    ) == (2, 4, 46, 66, 46, 1000)
    assert july["coverage_rate"] == pytest.approx(0.03)
    august = province["2025-08"]
    # 10001 (80 of 1000) + 10002 (40 of 2000) -> 120 / 3000
    assert (
        august["units_reporting"],
        august["participants_total"],
        august["cumulative_completed_basic"],
        august["population"],
    ) == (2, 130, 120, 3000)
    assert august["coverage_rate"] == pytest.approx(0.04)


def test_public_services(nights):
    rows = _by(nights["snapshots"]["night_2"]["public_services_monthly"], "period", "unit_code")
    # ps-10002-08 is invalid: no August row for 10002.
    assert set(rows) == {("2025-07", "10001"), ("2025-07", "10002"), ("2025-08", "10001")}
    # ps-10001-07: the invalid v2 does not displace v1 (80/100, 40/100, 81/90)
    july = rows[("2025-07", "10001")]
    assert july["version"] == 1
    assert (july["online_rate"], july["full_online_rate"], july["on_time_rate"]) == (
        pytest.approx(0.8),
        pytest.approx(0.4),
        pytest.approx(0.9),
    )
    # no dossier: every rate NULL
    zero = rows[("2025-07", "10002")]
    assert (zero["online_rate"], zero["full_online_rate"], zero["on_time_rate"]) == (None, None, None)
    august = rows[("2025-08", "10001")]
    assert august["online_rate"] == pytest.approx(100 / 120)
    assert august["full_online_rate"] == pytest.approx(0.8)  # 96/120
    assert august["on_time_rate"] == pytest.approx(0.95)  # 95/100

    province = _by(nights["snapshots"]["night_2"]["public_services_province_monthly"], "period")
    # July: 10001 + 10002 (zeros) -> the sums of 10001 alone
    assert (
        province["2025-07"]["units_reporting"],
        province["2025-07"]["dossiers_received"],
        province["2025-07"]["dossiers_processed_on_time"],
    ) == (2, 100, 81)
    assert province["2025-07"]["on_time_rate"] == pytest.approx(0.9)
    assert province["2025-08"]["units_reporting"] == 1


def test_reporting_completeness(nights):
    def table(label):
        return _by(nights["snapshots"][label]["reporting_completeness"], "period", "form", "unit_code")

    # (received, received_on_time); July is due by 2025-08-05 23:59:59 local,
    # August by 2025-09-05 23:59:59 local.
    july = {
        ("2025-07", "connectivity_report", "10001"): (True, True),  # 08-03, corrected 08-10
        ("2025-07", "connectivity_report", "10002"): (True, True),  # 08-05 23:59:59
        ("2025-07", "connectivity_report", "10003"): (True, False),  # 08-06 00:00:00
        ("2025-07", "digital_skills_report", "10001"): (True, True),
        ("2025-07", "digital_skills_report", "10002"): (False, False),  # withdrawn
        ("2025-07", "digital_skills_report", "10003"): (True, True),  # two submissions
        ("2025-07", "public_service_report", "10001"): (True, True),  # v1 counts
        ("2025-07", "public_service_report", "10002"): (True, True),
        ("2025-07", "public_service_report", "10003"): (False, False),
        ("2025-07", "task_report", "10001"): (True, True),  # period 2025-07-31
        ("2025-07", "task_report", "10002"): (False, False),  # T-P1 assigned 07-10
        # A25-SNV: its only task is assigned on 08-01 -> no July task_report expected
    }
    august = {
        # 10003 is active 08-01..08-10: still expected for August
        ("2025-08", "connectivity_report", "10001"): (True, True),
        ("2025-08", "connectivity_report", "10002"): (False, False),
        ("2025-08", "connectivity_report", "10003"): (False, False),
        ("2025-08", "digital_skills_report", "10001"): (True, True),
        ("2025-08", "digital_skills_report", "10002"): (True, False),  # 09-06 00:00:00 local
        ("2025-08", "digital_skills_report", "10003"): (False, False),
        ("2025-08", "public_service_report", "10001"): (True, True),  # 09-05 16:59:59Z
        ("2025-08", "public_service_report", "10002"): (False, False),  # invalid only
        ("2025-08", "public_service_report", "10003"): (False, False),
        ("2025-08", "task_report", "10001"): (True, True),  # period 2025-08-20
        ("2025-08", "task_report", "10002"): (False, False),
        ("2025-08", "task_report", "A25-SNV"): (True, True),
    }
    night_1 = table("night_1")
    assert set(night_1) == set(july)  # months: 2025-07 through the month before 2025-08
    for key, flags in july.items():
        assert (night_1[key]["received"], night_1[key]["received_on_time"]) == flags, key
    night_2 = table("night_2")
    assert set(night_2) == set(july) | set(august)
    for key, flags in {**july, **august}.items():
        assert (night_2[key]["received"], night_2[key]["received_on_time"]) == flags, key
    # two submissions for 10003's July skills report: the earliest submitted_at (07a, 08-02)
    two = night_2[("2025-07", "digital_skills_report", "10003")]
    assert two["submitted_at"].isoformat().startswith("2025-08-02T08:00:00")


def test_reporting_rate(nights):
    rows = _by(nights["snapshots"]["night_2"]["reporting_rate"], "period", "form")
    expected = {
        # (expected, actual, on time) from the tables above
        ("2025-07", "connectivity_report"): (3, 3, 2),
        ("2025-07", "digital_skills_report"): (3, 2, 2),
        ("2025-07", "public_service_report"): (3, 2, 2),
        ("2025-07", "task_report"): (2, 1, 1),
        ("2025-08", "connectivity_report"): (3, 1, 1),
        ("2025-08", "digital_skills_report"): (3, 2, 1),
        ("2025-08", "public_service_report"): (3, 1, 1),
        ("2025-08", "task_report"): (3, 2, 2),
    }
    assert set(rows) == set(expected)
    for key, (exp, act, on_time) in expected.items():
        row = rows[key]
        assert (row["expected_reports"], row["actual_reports"], row["actual_reports_on_time"]) == (
            exp,
            act,
            on_time,
        ), key
        assert row["reporting_rate"] == pytest.approx(act / exp), key
        assert row["reporting_rate_on_time"] == pytest.approx(on_time / exp), key


def test_quarantine(nights):
    night_1 = nights["snapshots"]["night_1"]["quarantine"]
    assert [(r["submission_id"], r["version"]) for r in night_1] == [("ps-10001-07", 2)]
    rows = _by(nights["snapshots"]["night_2"]["quarantine"], "submission_id", "version")
    assert set(rows) == {("ps-10001-07", "2"), ("ps-10002-08", "1")}
    first = rows[("ps-10001-07", "2")]
    # first pulled 2025-08-16 01:05 local, kept as a TIMESTAMPTZ (contract 1.1)
    assert first["first_seen_at"] == datetime(2025, 8, 16, 1, 5, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    assert first["reasons"].startswith("x-rules:")
    assert (first["unit_code"], first["form"], first["period"]) == (
        "10001",
        "public_service_report",
        "2025-07",
    )


def test_commune_scorecard(nights):
    rows = _by(nights["snapshots"]["night_2"]["commune_scorecard"], "as_of_date", "unit_code")
    # 10003 (inactive since 08-10) and the agency are never on the scorecard.
    assert set(rows) == {
        ("2025-08-21", "10001"),
        ("2025-08-21", "10002"),
        ("2025-09-21", "10001"),
        ("2025-09-21", "10002"),
    }
    # Default thresholds (seeds/scorecard_thresholds.csv): reporting_rate green >= 0.9,
    # red < 0.7; dead_zone_village_rate green <= 0.05, red > 0.2; coverage_rate green >= 0.02,
    # red < 0.01; full_online_rate green >= 0.5, red < 0.3; tasks_overdue green 0, red > 2.
    #
    # Night 1, 10001: 4/4 July reports (green); dead zones 2/10 = 0.2 (yellow: at the red
    # threshold, not above it); coverage 30/1000 = 0.03 (green); full online 40/100 = 0.4
    # (yellow); 0 overdue (green) -> yellow.
    a1 = rows[("2025-08-21", "10001")]
    assert a1["reporting_rate"] == pytest.approx(1.0)
    assert a1["dead_zone_village_rate"] == pytest.approx(0.2)
    assert (a1["status"], a1["status_reasons"]) == (
        "yellow",
        "dead_zone_village_rate: yellow; full_online_rate: yellow",
    )
    # Night 1, 10002: 2/4 July reports = 0.5 (red); dead zones 0 (green); no skills report
    # (withdrawn) and no dossier -> not rated; 0 overdue -> red.
    b1 = rows[("2025-08-21", "10002")]
    assert b1["reporting_rate"] == pytest.approx(0.5)
    assert b1["coverage_rate"] is None and b1["full_online_rate"] is None
    assert (b1["status"], b1["status_reasons"]) == ("red", "reporting_rate: red")
    # Night 2, 10001: 8/8 reports (green); August dead zones 1/10 (yellow); coverage 80/1000
    # (green); full online 96/120 = 0.8 (green); 0 overdue -> yellow.
    a2 = rows[("2025-09-21", "10001")]
    assert (a2["reports_expected"], a2["reports_received"]) == (8, 8)
    assert a2["connectivity_period"] == "2025-08"
    assert (a2["status"], a2["status_reasons"]) == ("yellow", "dead_zone_village_rate: yellow")
    # Night 2, 10002: 3/8 reports = 0.375 (red); coverage 40/2000 = 0.02 (green: at the green
    # threshold); T-P1 overdue: 1 (yellow: 0 < 1 <= 2); its pull failed that night -> red.
    b2 = rows[("2025-09-21", "10002")]
    assert (b2["reports_expected"], b2["reports_received"], b2["tasks_overdue"]) == (8, 3, 1)
    assert b2["reporting_rate"] == pytest.approx(0.375)
    assert b2["coverage_rate"] == pytest.approx(0.02)
    assert b2["last_pull_outcome"] == "failed"
    assert (b2["status"], b2["status_reasons"]) == ("red", "reporting_rate: red; tasks_overdue: yellow")


def test_rerun_of_a_night_is_idempotent(nights):
    def canonical(rows):
        return sorted(json.dumps(row, default=str, sort_keys=True) for row in rows)

    before = nights["snapshots"]["night_2"]
    after = nights["snapshots"]["night_2_rerun"]
    for mart in before:
        assert canonical(after[mart]) == canonical(before[mart]), mart


def test_build_without_as_of_date_fails_clearly(nights):
    result, _ = _dbt_build(nights["warehouse_dir"], nights["work_dir"], None)
    assert result.returncode != 0
    assert "`as_of_date` is required" in result.stdout + result.stderr


@pytest.fixture()
def night_settings(nights, tmp_path, monkeypatch):
    """Settings for the nightly's dbt step on a copy of the fixture warehouse."""
    from commune_dx.settings import Settings

    warehouse_dir = tmp_path / "warehouse"
    warehouse_dir.mkdir()
    shutil.copyfile(nights["warehouse_dir"] / "warehouse.duckdb", warehouse_dir / "warehouse.duckdb")
    monkeypatch.setenv("WAREHOUSE_DIR", str(warehouse_dir))
    monkeypatch.delenv("DBT_LOG_LEVEL_FILE", raising=False)
    return Settings.from_env()


# Loaded after night 2 (the load stamps pulled_at with its own clock, which the incremental
# models rely on to find what is new).
LATE_INVALID = ("ps-10003-08", 1, "10003", "public_service_report", "2025-08", "submitted",
                "2025-09-04 10:00:00+07", "2025-09-04 10:00:00+07", services(1, 2, 0, 1, 1),
                "x-rules: loaded just before dbt_build", "2025-09-22 01:10:00+07")


def _running_children() -> set[int]:
    """This process's child processes, but Python's multiprocessing resource tracker: dbt's
    locks start it once per process, and it ends with the process (it never holds a file)."""
    import psutil

    children = set()
    for child in psutil.Process().children(recursive=True):
        try:
            if "multiprocessing.resource_tracker" not in " ".join(child.cmdline()):
                children.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return children


def test_dbt_build_runs_in_the_task_and_leaves_nothing_behind(night_settings, caplog):
    """The nightly's dbt step runs dbt in the calling process: dbt's lines reach the task log,
    the as-of date reaches dbt through raw.dbt_run_context (partial parsing from the second
    night on), and when it returns no thread or process it started is running and the
    warehouse opens read-write at once, from another process and from this one."""
    import threading

    from commune_dx import nightly

    settings = night_settings
    threads_before = set(threading.enumerate())
    children_before = _running_children()
    with duckdb.connect(str(settings.working_db)) as con:  # the load, just before dbt_build
        _insert_submissions(con, [LATE_INVALID], "night-2025-09-21-late")

    with caplog.at_level("INFO", logger="commune_dx"):
        nightly.dbt_build(settings, "2025-09-21")
    dbt_lines = [r.getMessage() for r in caplog.records if r.name == "commune_dx.dbt"]
    assert "Completed successfully" in dbt_lines
    assert any("Unable to do partial parsing" in line for line in dbt_lines)  # a new target folder
    assert any("WARN freshness of raw.submission_versions" in line for line in dbt_lines)
    assert "<html" in (settings.dbt_docs_dir / "index.html").read_text(encoding="utf-8")[:2000].lower()

    assert set(threading.enumerate()) <= threads_before
    assert _running_children() <= children_before
    opened = subprocess.run(
        [sys.executable, "-c", f"import duckdb; duckdb.connect({str(settings.working_db)!r}).close()"],
        capture_output=True, text=True, timeout=60,
    )
    assert opened.returncode == 0, opened.stderr
    # In this process too (tasks share one under `airflow dags test`): with dbt's database
    # still open, DuckDB would refuse another configuration (read-only, as publish opens it).
    with duckdb.connect(str(settings.working_db), read_only=True) as con:
        quarantined = {r[0] for r in con.execute("select submission_id from marts.quarantine").fetchall()}
        as_of = con.execute("select as_of_date from raw.dbt_run_context").fetchone()[0]
    assert "ps-10003-08" in quarantined and str(as_of) == "2025-09-21"

    caplog.clear()
    with caplog.at_level("INFO", logger="commune_dx"):
        nightly.dbt_build(settings, "2025-09-22")
    dbt_lines = [r.getMessage() for r in caplog.records if r.name == "commune_dx.dbt"]
    assert "Completed successfully" in dbt_lines
    assert not any("Unable to do partial parsing" in line for line in dbt_lines)
    with duckdb.connect(str(settings.working_db)) as con:
        reported = con.execute("select distinct as_of_date from marts.task_status").fetchall()
    assert {"2025-09-21", "2025-09-22"} <= {str(row[0]) for row in reported}


def test_a_red_dbt_build_fails_the_task_with_dbts_failures(night_settings):
    from commune_dx import nightly
    from commune_dx.portal_client import PipelineError

    settings = night_settings
    with duckdb.connect(str(settings.working_db)) as con:  # one version stored twice
        con.execute("insert into raw.submission_versions select * from raw.submission_versions "
                    "where submission_id = 'conn-10001-07' and version = 1")
    with pytest.raises(PipelineError, match=r"dbt build failed; nothing was published: .*"
                       r"FAIL 1 source_unique_combination_of_columns_raw_submission_versions"):
        nightly.dbt_build(settings, "2025-09-21")
    with duckdb.connect(str(settings.working_db)) as con:  # released after a red build too
        assert con.execute("select count(*) from raw.submission_versions").fetchone()[0] > 0
