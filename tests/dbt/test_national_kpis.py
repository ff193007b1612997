"""One warehouse for the whole country: the national demo data (every province of the 2025
reference list, as the benchmark serves it) through the real validation, the real load and the
real dbt models, then `province_kpis` against the province-wide task counts.

Only the task reports are landed (province_kpis' task figures need nothing else), which keeps
the test to a fraction of a national night.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from bench.loading_limits import pull_results_of
from bench.national_data import build_national_dataset
from commune_dx import landing
from commune_dx.nightly import load, validate
from commune_dx.settings import DBT_PROJECT_DIR, Settings
from demo_portal.reference import read_province_codes
from demo_portal.task_data import CENTRAL_COMPLETED, CENTRAL_TASKS

AS_OF = "2025-09-21"
KEY = "national-kpis"


@pytest.fixture(scope="module")
def national_warehouse(tmp_path_factory, monkeypatch_module) -> Path:
    warehouse = tmp_path_factory.mktemp("national")
    monkeypatch_module.setenv("WAREHOUSE_DIR", str(warehouse))
    settings = Settings.from_env()
    data = build_national_dataset(first_period="2025-07", last_period="2025-08")
    run_dir = landing.run_dir(settings.warehouse_dir, KEY)
    landing.write_snapshots(run_dir, data.units, data.tasks)
    by_unit: dict[str, list[str]] = {u["unit_code"]: [] for u in data.units}
    for version in data.submissions:
        if version["form"] == "task_report":
            by_unit[version["unit_code"]].append(json.dumps(version, ensure_ascii=False))
    for unit_code, lines in by_unit.items():
        with landing.unit_writer(landing.units_dir(run_dir), unit_code) as fh:
            fh.write("".join(line + "\n" for line in lines).encode("utf-8"))
    validate(settings, KEY)
    load(settings, KEY, KEY, AS_OF, pull_results_of(run_dir))
    project = str(DBT_PROJECT_DIR)
    dbt = Path(sys.executable).parent / "dbt"
    result = subprocess.run(
        [str(dbt), "run", "--select", "+province_kpis", "+task_completion", "--project-dir", project,
         "--profiles-dir", project, "--vars", f"{{as_of_date: {AS_OF}}}"],
        env={**os.environ, "DBT_TARGET_PATH": str(warehouse / "dbt_target"),
             "DBT_LOG_PATH": str(warehouse / "dbt_logs")},
        capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    return warehouse


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_province_kpis_has_every_province_and_adds_up(national_warehouse: Path) -> None:
    con = duckdb.connect(str(national_warehouse / "warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "SELECT province_code, province_name, communes_active, agencies_active, tasks_central_total, "
            "tasks_central_completed, tasks_central_not_completed FROM marts.province_kpis "
            f"WHERE as_of_date = DATE '{AS_OF}' ORDER BY province_code"
        ).fetchall()
        total, completed, not_completed = con.execute(
            "SELECT tasks_total, completed, not_completed FROM marts.task_completion "
            f"WHERE as_of_date = DATE '{AS_OF}' AND scope = 'province' AND scope_code = 'central'"
        ).fetchone()
        communes = con.execute("SELECT count(*) FROM raw.units WHERE unit_type <> 'agency'").fetchone()[0]
    finally:
        con.close()
    print(f"\nprovince_kpis on {AS_OF}: {len(rows)} rows; the first three:")
    for row in rows[:3]:
        print("  ", row)
    assert [r[0] for r in rows] == read_province_codes() and len(rows) == 34
    assert all(r[1] for r in rows), "every province is named from the reference data"
    assert sum(r[2] for r in rows) == communes
    assert sum(r[4] for r in rows) == total
    assert sum(r[5] for r in rows) == completed
    assert sum(r[6] for r in rows) == not_completed
    # each province's demo data reproduces Phú Thọ's published task figures
    assert {(r[4], r[5], r[6]) for r in rows} == {
        (CENTRAL_TASKS, CENTRAL_COMPLETED, CENTRAL_TASKS - CENTRAL_COMPLETED)
    }
