"""Who reported what and how the communes rate: reporting_completeness, reporting_rate,
quarantine and commune_scorecard on the hand-built raw layer."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.dbt.raw_layer import _by


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
