"""The task marts (task_status, task_completion) on the hand-built raw layer."""

from __future__ import annotations

from tests.dbt.raw_layer import XSS_NOTE, _approx, _by


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
