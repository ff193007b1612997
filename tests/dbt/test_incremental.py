"""The incremental marts equal a full rebuild, row for row, night after night.

Two provinces of the national demo data (nine months of history) arrive over four nights
through the real validation and the real load; after each night, dbt builds the working
warehouse incrementally the way the nightly does (``commune_dx.building``). A copy of that
warehouse is then rebuilt with ``dbt build --full-refresh``, and every mart of the copy must
equal the incremental one. The later nights bring what an incremental build is most likely to
miss: corrections to months long closed, an invalid newer version, a withdrawal that changes a
cumulative figure, and a unit renamed with a new population.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from bench.loading_limits import pull_results_of
from bench.national_data import build_national_dataset
from commune_dx import landing
from commune_dx.building import invoke_dbt, write_run_context
from commune_dx.nightly import load, validate
from commune_dx.settings import MART_TABLES, Settings

PROVINCES = ["12", "46"]  # the two smallest: the test is about history, not breadth
CALENDAR_START = "2025-01"
# (as-of date, the portal's clock at the pull): each night lands the versions published since
# the previous night's clock.
NIGHTS = [
    ("2025-04-09", "2025-04-10T01:00:00+07:00"),
    ("2025-06-09", "2025-06-10T01:00:00+07:00"),
    ("2025-08-20", "2025-08-21T01:00:00+07:00"),
    ("2025-10-09", "2025-10-10T01:00:00+07:00"),
]
NIGHTLY_MARTS = {"task_status", "task_completion", "task_watchlist", "phase_status", "phase_summary",
                 "province_kpis", "commune_scorecard", "unit_fix_list", "unit_pull_status"}


def _latest_version(submissions: list[dict[str, Any]], form: str, period: str, skip: int = 0) -> dict:
    """The latest version of the ``skip``-th submission (in id order) of ``form`` for ``period``
    whose latest version is submitted."""
    latest: dict[str, dict[str, Any]] = {}
    for version in submissions:
        if version["form"] == form and version["period"] == period:
            known = latest.get(version["submission_id"])
            if known is None or version["version"] > known["version"]:
                latest[version["submission_id"]] = version
    submitted = [latest[key] for key in sorted(latest) if latest[key]["status"] == "submitted"]
    return submitted[skip]


def _next_version(version: dict[str, Any], updated_at: str, **changes: Any) -> dict[str, Any]:
    newer = copy.deepcopy(version)
    newer.update(version=version["version"] + 1, updated_at=updated_at, **changes)
    return newer


def _late_arrivals(submissions: list[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """The versions the later nights bring on top of the data's own, by night index."""
    connectivity = _latest_version(submissions, "connectivity_report", "2025-02")
    corrected = copy.deepcopy(connectivity["payload"])
    corrected["office_bandwidth_mbps"] = corrected["office_bandwidth_mbps"] + 50
    public_service = _latest_version(submissions, "public_service_report", "2025-03")
    broken = copy.deepcopy(public_service["payload"])
    broken["dossiers_received"] = -1  # below the schema's minimum: quarantined, never counted
    skills = _latest_version(submissions, "digital_skills_report", "2025-03")
    capacity = _latest_version(submissions, "capacity_report", "2025-Q3")
    fixed_capacity = copy.deepcopy(capacity["payload"])
    fixed_capacity["devices_received"] = fixed_capacity["devices_received"] + 3
    skills_again = _latest_version(submissions, "digital_skills_report", "2025-05", skip=1)
    more_skills = copy.deepcopy(skills_again["payload"])
    more_skills["people_completed_basic"] = more_skills["people_completed_basic"] + 7
    return {
        2: [
            _next_version(connectivity, "2025-08-20T09:00:00+07:00", payload=corrected),
            _next_version(public_service, "2025-08-20T09:30:00+07:00", payload=broken),
            _next_version(skills, "2025-08-20T10:00:00+07:00", status="withdrawn"),
        ],
        3: [
            _next_version(capacity, "2025-10-09T09:00:00+07:00", payload=fixed_capacity),
            _next_version(skills_again, "2025-10-09T09:30:00+07:00", payload=more_skills),
        ],
    }


def _renamed_unit(units: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The unit registry with one commune renamed and its population changed."""
    changed = copy.deepcopy(units)
    commune = next(unit for unit in changed if unit["unit_type"] == "phuong")
    commune["unit_name"] = commune["unit_name"] + " (sáp nhập)"
    commune["population"] = (commune.get("population") or 10_000) + 1_234
    return changed


def _land_night(settings: Settings, key: str, units: list, tasks: list, versions: list) -> Path:
    run_dir = landing.run_dir(settings.warehouse_dir, key)
    landing.write_snapshots(run_dir, units, tasks)
    by_unit: dict[str, list[str]] = {}
    for version in versions:
        by_unit.setdefault(version["unit_code"], []).append(json.dumps(version, ensure_ascii=False))
    for unit_code, lines in by_unit.items():
        with landing.unit_writer(landing.units_dir(run_dir), unit_code) as fh:
            fh.write("".join(line + "\n" for line in lines).encode("utf-8"))
    return run_dir


def _build(settings: Settings, as_of: str, *extra: str) -> None:
    write_run_context(settings, as_of)
    build = invoke_dbt(settings, ["build", "--exclude-resource-type", "unit_test", *extra])
    assert build.success, build.failures()


def _differences(incremental_db: Path, rebuilt_db: Path, as_of: str) -> dict[str, tuple[int, int, int]]:
    """Per mart whose rows differ: (rows only in the incremental build, rows only in the rebuild,
    rows in the rebuild); nightly marts compared for the night ``as_of``."""
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{incremental_db}' AS incremental (READ_ONLY)")
        con.execute(f"ATTACH '{rebuilt_db}' AS rebuilt (READ_ONLY)")
        differences = {}
        for table in MART_TABLES:
            where = f" WHERE as_of_date = DATE '{as_of}'" if table in NIGHTLY_MARTS else ""
            ours = f"SELECT * FROM incremental.marts.{table}{where}"
            theirs = f"SELECT * FROM rebuilt.marts.{table}{where}"
            only_ours = con.execute(f"SELECT count(*) FROM ({ours} EXCEPT ALL {theirs})").fetchone()[0]
            only_theirs = con.execute(f"SELECT count(*) FROM ({theirs} EXCEPT ALL {ours})").fetchone()[0]
            total = con.execute(f"SELECT count(*) FROM ({theirs})").fetchone()[0]
            if only_ours or only_theirs:
                differences[table] = (only_ours, only_theirs, total)
        return differences
    finally:
        con.close()


@dataclasses.dataclass
class Nights:
    settings: Settings  # the working warehouse built incrementally, night after night
    differences: dict[str, dict[str, tuple[int, int, int]]]  # per later night, see _differences


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> Nights:
    """Four nights into one working warehouse, each built incrementally; after each later night
    a copy is rebuilt in full and compared (the first night's build is a full one already)."""
    settings = dataclasses.replace(
        Settings.from_env(), warehouse_dir=tmp_path_factory.mktemp("incremental"),
        calendar_start=CALENDAR_START,
    )
    data = build_national_dataset(PROVINCES, first_period="2025-01", last_period="2025-09")
    late = _late_arrivals(data.submissions)
    differences = {}
    since = ""
    for index, (as_of, clock) in enumerate(NIGHTS):
        versions = [v for v in data.submissions if since < v["updated_at"] <= clock] + late.get(index, [])
        units = _renamed_unit(data.units) if index == len(NIGHTS) - 1 else data.units
        key = f"night-{index}"
        run_dir = _land_night(settings, key, units, data.tasks, versions)
        validate(settings, key)
        load(settings, key, key, as_of, pull_results_of(run_dir))
        _build(settings, as_of)
        if index:
            rebuilt = dataclasses.replace(settings, warehouse_dir=tmp_path_factory.mktemp(f"rebuilt-{index}"))
            shutil.copyfile(settings.working_db, rebuilt.working_db)
            _build(rebuilt, as_of, "--full-refresh")
            differences[as_of] = _differences(settings.working_db, rebuilt.working_db, as_of)
        since = clock
    return Nights(settings, differences)


def test_every_mart_equals_a_full_rebuild_after_each_night(nights):
    assert list(nights.differences) == [as_of for as_of, _ in NIGHTS[1:]]
    assert nights.differences == {as_of: {} for as_of in nights.differences}


def test_the_late_arrivals_reached_the_marts(nights):
    """The nights did bring what the comparison is about (else equality proves little)."""
    con = duckdb.connect(str(nights.settings.working_db), read_only=True)
    try:
        corrected = con.execute(
            "SELECT count(*) FROM marts.connectivity_monthly WHERE period = '2025-02' AND version > 1 "
            "AND updated_at = TIMESTAMPTZ '2025-08-20 09:00:00+07:00'").fetchone()[0]
        quarantined = con.execute(
            "SELECT count(*) FROM marts.quarantine WHERE period = '2025-03' "
            "AND form = 'public_service_report' AND updated_at = TIMESTAMPTZ '2025-08-20 09:30:00+07:00'"
        ).fetchone()[0]
        renamed = con.execute(
            "SELECT count(DISTINCT period) FROM marts.digital_skills_monthly "
            "WHERE unit_name LIKE '% (sáp nhập)'").fetchone()[0]
        periods = con.execute("SELECT count(DISTINCT period) FROM marts.connectivity_monthly").fetchone()[0]
    finally:
        con.close()
    assert (corrected, quarantined) == (1, 1)
    assert renamed >= 6  # the rename reached the rows of months built on earlier nights
    assert periods == 9
