"""The validation corpus (one submission per rule of MARTS.md, with valid twins) served by a
real portal and pulled, validated, loaded and counted by the real nightly DAG."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta

import duckdb
import pytest

from demo_portal.demo_data import DemoDataset
from demo_portal.server import start_demo_portal
from tests.conftest import connection_json, run_night_cli
from tests.test_validation import CASES, TASKS, UNITS

pytestmark = pytest.mark.e2e
# A per-unit pull never meets a unit the portal does not list, nor (from the demo portal, which
# filters its listing by the unit's code as text) an item whose unit_code is not text; those
# rules are covered in tests/test_validation.py at the function level.
UNREACHABLE_BY_PULL = {"unknown unit", "capacity unknown unit", "unit_code not a string"}
# The corpus gives each version its own updated_at (the portal's clock and order need one), so
# the cases of a malformed updated_at are left to tests/test_validation.py and to the hostile
# portal's night in tests/e2e/test_resilience.py, which serves such versions as they are.
OWN_UPDATED_AT = {"updated_at without offset", "updated_at month 13"}


def corpus_dataset() -> tuple[DemoDataset, dict[str, tuple[str, str | None]]]:
    """The corpus as a portal dataset, and each submission id's (case, expected reason)."""
    units = [
        {"unit_code": code, "unit_name": f"Đơn vị {code}", "unit_type": u["unit_type"],
         "province_code": "25", "population": 1000, "active_from": u["active_from"],
         "active_to": u["active_to"]}
        for code, u in UNITS.items()
    ]
    tasks = [
        {"task_code": code, "title": f"Nhiệm vụ {code}", "task_group": "digital_government",
         "source": "central", "assigned_unit_code": t["assigned_unit_code"],
         "assigned_on": "2025-07-01", "deadline": "2025-12-31"}
        for code, t in TASKS.items()
    ]
    start = datetime.fromisoformat("2025-09-03T10:00:00+07:00")
    submissions = []
    expected = {}
    for index, (case_id, item, reason) in enumerate(CASES):
        if case_id in UNREACHABLE_BY_PULL or case_id in OWN_UPDATED_AT:
            continue
        submission = copy.deepcopy(item)
        submission["submission_id"] = f"CASE-{index:02d}"
        submission["updated_at"] = (start + timedelta(minutes=index)).isoformat()
        submissions.append(submission)
        expected[submission["submission_id"]] = (case_id, reason)
    return DemoDataset(units=units, tasks=tasks, submissions=submissions), expected


@pytest.fixture(scope="module")
def corpus_night(tmp_path_factory):
    dataset, expected = corpus_dataset()
    warehouse = tmp_path_factory.mktemp("corpus-warehouse")
    with start_demo_portal(token="corpus", dataset=dataset) as portal:
        result = run_night_cli("2025-09-21", warehouse, connection_json(portal.url, portal.token))
    assert result.returncode == 0, result.output[-4000:]
    con = duckdb.connect(str(warehouse / "warehouse.duckdb"), read_only=True)
    quarantined = dict(con.execute("SELECT submission_id, reasons FROM marts.quarantine").fetchall())
    counted = {row[0] for row in con.execute(
        # The counting table keeps a withdrawn submission (flagged) so that a withdrawal replaces
        # its row; it counts nowhere.
        "SELECT submission_id FROM intermediate.int_submissions_counted WHERE NOT is_withdrawn").fetchall()}
    stored = con.execute("SELECT count(*) FROM raw.submission_versions").fetchone()[0]
    con.close()
    return expected, quarantined, counted, stored


def test_every_invalid_version_is_quarantined_with_its_reason(corpus_night):
    expected, quarantined, counted, _ = corpus_night
    for submission_id, (case_id, reason) in expected.items():
        if reason is None:
            continue
        assert submission_id in quarantined, case_id
        assert reason in quarantined[submission_id], (case_id, quarantined[submission_id])
        assert submission_id not in counted, case_id


def test_every_valid_version_counts_and_nothing_is_lost(corpus_night):
    expected, quarantined, counted, stored = corpus_night
    assert stored == len(expected)  # every pulled version is kept in the raw layer
    for submission_id, (case_id, reason) in expected.items():
        if reason is not None:
            continue
        assert submission_id not in quarantined, case_id
        if case_id == "withdrawn is never invalid":
            assert submission_id not in counted  # withdrawn: valid, but counts nowhere
        else:
            assert submission_id in counted, case_id
