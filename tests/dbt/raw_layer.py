"""A hand-built raw layer for the dbt project's tests, made with the pipeline's own DDL.

The raw tables are created by ``commune_dx.loading.connect_working`` (the load's ``RAW_DDL``);
the rows below are inserted as ``load`` would store them. ``build_nights`` loads the fixture in
two batches and runs the real ``dbt build`` for two nights (2025-08-21, then 2025-09-21, then
2025-09-21 again), snapshotting the marts after each; ``tests/dbt/conftest.py`` shares it as the
fixture ``nights``. The tests in ``tests/dbt/`` check the marts against numbers worked out by
hand from this fixture. Every `dbt build` must be green: its data tests and unit tests run too.

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
from pathlib import Path

import duckdb
import pytest

from commune_dx.loading import connect_working
from commune_dx.settings import DBT_PROJECT_DIR, MART_TABLES

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
    """The fixture's units, tasks and reference communes, into the raw tables the load creates."""
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


def load_night_1(con: duckdb.DuckDBPyConnection) -> None:
    """The raw rows of the first night (2025-08-21): reference data, versions, pulls."""
    _load_reference_data(con)
    _insert_submissions(con, BATCH_NIGHT_1, "night-2025-08-21")
    _insert_submissions(con, [RESERVED_RECORD], "night-2025-08-21")
    _insert_pulls(con, PULLS_NIGHT_1)


def load_night_2(con: duckdb.DuckDBPyConnection) -> None:
    """The raw rows the second night (2025-09-21) adds."""
    _insert_submissions(con, BATCH_NIGHT_2, "night-2025-09-21")
    _insert_pulls(con, PULLS_NIGHT_2)


def _dbt_executable() -> str:
    beside_python = Path(sys.executable).parent / "dbt"
    found = str(beside_python) if beside_python.exists() else shutil.which("dbt")
    if found is None:
        raise RuntimeError("dbt is not installed in this environment: run `make setup`")
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


def build_nights(warehouse_dir: Path, work_dir: Path) -> dict:
    """Load the fixture, build night 1, load more, build night 2 twice; snapshot the marts.

    Returns the snapshots (mart name -> rows, per night label), the build timings and the
    directories, for the tests to read."""
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

    with connect_working(database) as con:
        load_night_1(con)
    build_and_snapshot("night_1", "2025-08-21")

    with connect_working(database) as con:
        load_night_2(con)
    build_and_snapshot("night_2", "2025-09-21")
    build_and_snapshot("night_2_rerun", "2025-09-21")

    print("dbt build timings (s):", {k: round(v, 1) for k, v in timings.items()})
    return {"snapshots": snapshots, "timings": timings, "warehouse_dir": warehouse_dir, "work_dir": work_dir}
