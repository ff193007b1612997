"""A small hand-made warehouse of the contract-1.1 marts (MARTS.md), for the report and summary tests.

Two provinces on the night 2025-09-21: Phú Thọ (25) with two communes and one agency, all Green in
phase 1, and a second province (99) whose names and texts try to inject markup, with a commune not
Green, tasks overdue and at risk, and a unit whose pull failed. ``provinces=("25",)`` keeps only
the first province's rows (a one-province warehouse)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

AS_OF = "2025-09-21"
EARLIER = "2025-09-20"
HOSTILE = '<script>alert("x")</script><img src=x onerror="alert(1)"> & "Xã <b>Lõm</b>" \'1\'=\'1\''

TABLES = {
    "province_kpis": """as_of_date DATE, province_code VARCHAR, province_name VARCHAR, communes_active BIGINT,
        agencies_active BIGINT, tasks_central_total BIGINT, tasks_central_completed BIGINT,
        tasks_central_not_completed BIGINT, kpi_period VARCHAR, dead_zone_villages BIGINT,
        fiber_household_rate DOUBLE, outdated_computer_rate DOUBLE, skills_coverage_rate DOUBLE,
        full_online_rate DOUBLE, on_time_rate DOUBLE, reporting_rate DOUBLE, reporting_rate_on_time DOUBLE""",
    "task_completion": """as_of_date DATE, scope VARCHAR, scope_code VARCHAR, tasks_total BIGINT,
        completed_on_time BIGINT, completed_late BIGINT, completed BIGINT, in_progress BIGINT,
        overdue BIGINT, not_completed BIGINT, completion_rate DOUBLE, on_time_rate DOUBLE""",
    "task_status": """as_of_date DATE, task_code VARCHAR, task_title VARCHAR, task_group VARCHAR,
        source VARCHAR, assigned_unit_code VARCHAR, province_code VARCHAR, phase INTEGER, deadline DATE,
        reported_status VARCHAR, progress_pct DOUBLE, completed_on DATE, status_class VARCHAR""",
    "task_watchlist": """as_of_date DATE, task_code VARCHAR, task_group VARCHAR, source VARCHAR,
        phase INTEGER, assigned_unit_code VARCHAR, province_code VARCHAR, deadline DATE,
        days_to_deadline INTEGER, reported_status VARCHAR, progress_pct DOUBLE,
        last_reported_period DATE, risk VARCHAR""",
    "phase_status": """as_of_date DATE, phase INTEGER, unit_code VARCHAR, province_code VARCHAR,
        unit_type VARCHAR, tasks_total BIGINT, tasks_completed BIGINT, is_green BOOLEAN, green_since DATE""",
    "phase_summary": """as_of_date DATE, phase INTEGER, province_code VARCHAR, communes_total BIGINT,
        communes_green BIGINT, agencies_total BIGINT, agencies_green BIGINT, communes_green_rate DOUBLE,
        province_green BOOLEAN, province_green_since DATE""",
    "capacity_quarterly": """period VARCHAR, unit_code VARCHAR, province_code VARCHAR, unit_type VARCHAR,
        officials_total INTEGER, dx_specialists INTEGER, officials_trained_dx INTEGER,
        steering_committee BOOLEAN, information_systems INTEGER, systems_security_approved INTEGER,
        security_assessments INTEGER, vulnerabilities_found INTEGER, vulnerabilities_open INTEGER,
        devices_received INTEGER, has_dx_specialist BOOLEAN, trained_rate DOUBLE,
        security_approved_rate DOUBLE""",
    "capacity_province_quarterly": """period VARCHAR, province_code VARCHAR, units_reporting BIGINT,
        agencies_reporting BIGINT, communes_reporting BIGINT, units_with_dx_specialist BIGINT,
        units_with_steering_committee BIGINT, officials_total BIGINT, dx_specialists BIGINT,
        officials_trained_dx BIGINT, information_systems BIGINT, systems_security_approved BIGINT,
        security_assessments BIGINT, vulnerabilities_found BIGINT, vulnerabilities_open BIGINT,
        devices_received BIGINT, trained_rate DOUBLE, security_approved_rate DOUBLE""",
    "unit_pull_status": """as_of_date DATE, unit_code VARCHAR, province_code VARCHAR, pull_outcome VARCHAR,
        received BOOLEAN, pull_error VARCHAR""",
    "commune_scorecard": """as_of_date DATE, unit_code VARCHAR, unit_name VARCHAR, unit_type VARCHAR,
        province_code VARCHAR, reporting_rate DOUBLE, dead_zone_villages BIGINT, fiber_household_rate DOUBLE,
        coverage_rate DOUBLE, full_online_rate DOUBLE, tasks_overdue BIGINT, status VARCHAR,
        status_reasons VARCHAR""",
    "connectivity_province_monthly": """period VARCHAR, province_code VARCHAR, dead_zone_villages BIGINT,
        fiber_household_rate DOUBLE""",
    "digital_skills_province_monthly": "period VARCHAR, province_code VARCHAR, coverage_rate DOUBLE",
    "public_services_province_monthly": "period VARCHAR, province_code VARCHAR, full_online_rate DOUBLE",
    "reporting_completeness": """period VARCHAR, form VARCHAR, unit_code VARCHAR, unit_name VARCHAR,
        province_code VARCHAR, received BOOLEAN""",
    "quarantine": """submission_id VARCHAR, version INTEGER, unit_code VARCHAR, province_code VARCHAR,
        form VARCHAR, period VARCHAR, reasons VARCHAR, first_seen_at TIMESTAMPTZ""",
}

D, E = AS_OF, EARLIER
ROWS: dict[str, list[tuple]] = {
    "province_kpis": [
        (E, "25", "Tỉnh Phú Thọ", 2, 1, 5, 2, 3, "2025-08", 25, 0.5, 0.1, 0.02, 0.4, 0.9, 0.8, 0.7),
        (D, "25", "Tỉnh Phú Thọ", 2, 1, 5, 3, 2, "2025-08", 24, 0.55, 0.1, 0.025, 0.45, 0.9, 0.85, 0.75),
        (D, "99", f"Tỉnh {HOSTILE}", 1, 1, 3, 0, 3, "2025-08", 7, 0.2, 0.3, 0.01, 0.1, 0.5, 0.6, 0.3),
    ],
    "task_completion": [
        (E, "province", "central", 8, 2, 0, 2, 4, 2, 6, 2 / 8, 1.0),
        (D, "province", "central", 8, 2, 1, 3, 3, 2, 5, 3 / 8, 2 / 3),
        (D, "province", "provincial", 0, 0, 0, 0, 0, 0, 0, None, None),
        (D, "province", "all", 8, 2, 1, 3, 3, 2, 5, 3 / 8, 2 / 3),
    ],
    "task_status": [
        (D, "T25-1", "Kết nối mạng", "g1", "central", "C25-A", "25", 1, "2025-09-01", "completed", 100,
         "2025-09-10", "completed_on_time"),
        (D, "T25-2", "Cổng dịch vụ", "g1", "central", "C25-B", "25", 1, "2025-09-01", "completed", 100,
         "2025-09-20", "completed_late"),
        (D, "T25-5", "Kho dữ liệu", "g1", "central", "A25-X", "25", 1, "2025-09-30", "completed", 100,
         "2025-09-15", "completed_on_time"),
        (D, "T25-3", "Sổ tay số", "g2", "central", "A25-X", "25", 2, "2025-10-01", "in_progress", 90, None,
         "in_progress"),
        (D, "T25-4", "Đào tạo", "g2", "central", "A25-X", "25", None, "2025-09-10", None, None, None,
         "overdue"),
        (D, "T99-1", HOSTILE, "g1", "central", "C99-A", "99", 1, "2025-09-01", "in_progress", 40, None,
         "overdue"),
        (D, "T99-2", "Số hoá hồ sơ", "g1", "central", "C99-A", "99", 1, "2025-10-05", "in_progress", 20, None,
         "in_progress"),
        (D, "T99-3", "Chữ ký số", "g1", "central", "A99-X", "99", 1, "2025-12-31", "in_progress", 90, None,
         "in_progress"),
    ],
    "task_watchlist": [
        (D, "T25-4", "g2", "central", None, "A25-X", "25", "2025-09-10", -11, None, None, None, "overdue"),
        (D, "T25-3", "g2", "central", 2, "A25-X", "25", "2025-10-01", 10, "in_progress", 90, "2025-09-15",
         "on_track"),
        (D, "T99-1", "g1", "central", 1, "C99-A", "99", "2025-09-01", -20, "in_progress", 40, "2025-09-15",
         "overdue"),
        (D, "T99-2", "g1", "central", 1, "C99-A", "99", "2025-10-05", 14, "in_progress", 20, "2025-09-15",
         "at_risk"),
        (D, "T99-3", "g1", "central", 1, "A99-X", "99", "2025-12-31", 101, "in_progress", 90, "2025-09-15",
         "on_track"),
    ],
    "phase_status": [
        (D, 1, "C25-A", "25", "xa", 1, 1, True, "2025-09-10"),
        (D, 1, "C25-B", "25", "phuong", 1, 1, True, "2025-09-20"),
        (D, 1, "A25-X", "25", "agency", 1, 1, True, "2025-09-15"),
        (D, 1, "C99-A", "99", "xa", 2, 0, False, None),
        (D, 1, "A99-X", "99", "agency", 1, 0, False, None),
        (D, 2, "A25-X", "25", "agency", 1, 0, False, None),
    ],
    "phase_summary": [
        (D, 1, "25", 2, 2, 1, 1, 1.0, True, "2025-09-15"),
        (D, 2, "25", 0, 0, 1, 0, None, False, None),
        (D, 1, "99", 1, 0, 1, 0, 0.0, False, None),
    ],
    "capacity_quarterly": [
        ("2025-Q2", "C25-A", "25", "xa", 20, 0, 5, False, 1, 0, 0, 0, 0, 0, False, 0.25, 0.0),
        ("2025-Q3", "C25-A", "25", "xa", 20, 1, 10, True, 2, 2, 1, 0, 0, 3, True, 0.5, 1.0),
        ("2025-Q3", "C25-B", "25", "phuong", 30, 0, 12, False, 3, 1, 1, 2, 1, 0, False, 0.4, 1 / 3),
        ("2025-Q3", "A25-X", "25", "agency", 50, 2, 40, True, 4, 4, 1, 0, 0, 5, True, 0.8, 1.0),
        ("2025-Q3", "C99-A", "99", "xa", 10, 0, 1, False, 1, 0, 0, 3, 3, 0, False, 0.1, 0.0),
    ],
    "capacity_province_quarterly": [
        ("2025-Q2", "25", 1, 0, 1, 0, 0, 20, 0, 5, 1, 0, 0, 0, 0, 0, 0.25, 0.0),
        ("2025-Q3", "25", 3, 1, 2, 2, 2, 100, 3, 62, 9, 7, 3, 2, 1, 8, 0.62, 7 / 9),
        ("2025-Q3", "99", 1, 0, 1, 0, 0, 10, 0, 1, 1, 0, 0, 3, 3, 0, 0.1, 0.0),
    ],
    "unit_pull_status": [
        (E, "C25-A", "25", "failed", False, "HTTP 503 from /submissions after 6 attempts"),
        (D, "C25-A", "25", "ok", True, None),
        (D, "C25-B", "25", "ok", True, None),
        (D, "A25-X", "25", "ok", True, None),
        (D, "C99-A", "99", "failed", False, HOSTILE),
        (D, "A99-X", "99", "ok", True, None),
    ],
    "commune_scorecard": [
        (D, "C25-A", "Xã Hạ Hoà", "xa", "25", 1.0, 0, 0.6, 0.03, 0.5, 0, "green", None),
        (D, "C25-B", "Phường Âu Cơ", "phuong", "25", 0.66, 3, 0.4, 0.02, 0.3, 0, "yellow",
         "coverage_rate: yellow"),
        (D, "C99-A", HOSTILE, "xa", "99", 0.33, 7, 0.2, 0.01, 0.1, 1, "red", "tasks_overdue: red"),
    ],
    "connectivity_province_monthly": [
        ("2025-07", "25", 30, 0.5), ("2025-08", "25", 24, 0.55), ("2025-08", "99", 7, 0.2),
    ],
    "digital_skills_province_monthly": [("2025-07", "25", 0.015), ("2025-08", "25", 0.025)],
    "public_services_province_monthly": [("2025-07", "25", 0.4), ("2025-08", "25", 0.45)],
    "reporting_completeness": [
        ("2025-08", "connectivity_report", "C25-A", "Xã Hạ Hoà", "25", True),
        ("2025-08", "connectivity_report", "C99-A", HOSTILE, "99", False),
        ("2025-08", "task_report", "A25-X", "Sở Khoa học và Công nghệ", "25", True),
    ],
    "quarantine": [
        ("S-1", 2, "C99-A", "99", "connectivity_report", "2025-08", HOSTILE, "2025-09-21 02:00:00+07"),
    ],
}
# task_completion of a warehouse that holds province 25 only (its rows carry no province_code).
ONE_PROVINCE_TASK_COMPLETION = [
    (E, "province", "central", 5, 2, 0, 2, 2, 1, 3, 2 / 5, 1.0),
    (D, "province", "central", 5, 2, 1, 3, 1, 1, 2, 3 / 5, 2 / 3),
    (D, "province", "provincial", 0, 0, 0, 0, 0, 0, 0, None, None),
    (D, "province", "all", 5, 2, 1, 3, 1, 1, 2, 3 / 5, 2 / 3),
]
# The marts that contract 1.1 adds: what a warehouse published before it lacks.
CONTRACT_1_1_MARTS = ("province_kpis", "task_watchlist", "phase_status", "phase_summary",
                      "capacity_quarterly", "capacity_province_quarterly")


def build_warehouse(path: Path, provinces: Sequence[str] = ("25", "99"),
                    without: Sequence[str] = ()) -> Path:
    """Write the fixture marts to the DuckDB file ``path`` (rows of ``provinces`` only; the tables
    in ``without`` left out) and return ``path``."""
    con = duckdb.connect(str(path))
    try:
        con.execute("CREATE SCHEMA marts")
        for table, columns in TABLES.items():
            if table in without:
                continue
            con.execute(f"CREATE TABLE marts.{table} ({columns})")
            names = [c.split()[0] for c in columns.replace("\n", " ").split(",")]
            rows = ROWS[table]
            if table == "task_completion" and tuple(provinces) == ("25",):
                rows = ONE_PROVINCE_TASK_COMPLETION
            for row in rows:
                record = dict(zip(names, row, strict=True))
                if record.get("province_code", provinces[0]) not in provinces:
                    continue
                con.execute(f"INSERT INTO marts.{table} VALUES ({', '.join('?' * len(row))})", list(row))
    finally:
        con.close()
    return path
