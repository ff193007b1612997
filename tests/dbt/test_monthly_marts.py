"""The monthly form marts (connectivity, digital skills, public services; per unit and per
province) on the hand-built raw layer."""

from __future__ import annotations

import pytest

from tests.dbt.raw_layer import _by


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
