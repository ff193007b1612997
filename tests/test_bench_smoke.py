"""The benchmark harness (``bench/``, ``make bench``) on a tiny scale: its pieces work and the
results file has its structure. Timings are not asserted here; ``make bench`` measures them."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.loading_limits import pull_results_of
from bench.measure import (
    ProcessTreeSampler,
    nightly_stages,
    parse_night_log,
    peak_rss_by_task,
    read_dag_run,
    run_measured,
)
from bench.national_data import build_national_dataset, month_range, national_task_code
from bench.portal import PortalProcess
from bench.results import SECTIONS, evaluate_targets, write_results
from bench.run_bench import clock_for, national_calendar, next_days
from commune_dx import landing
from demo_portal.submission_log import listing_key

SMALL_PROVINCE = "12"  # 38 communes, the smallest province of the reference list


@pytest.fixture(scope="module")
def small_national():
    return build_national_dataset([SMALL_PROVINCE])


def test_national_generator_for_one_province(small_national) -> None:
    data = small_national
    assert len(data.units) == 38 and all(u["active_from"] == "2024-01-01" for u in data.units)
    codes = [t["task_code"] for t in data.tasks]
    assert len(codes) == len(set(codes)) and all(c.split("-")[1] == SMALL_PROVINCE for c in codes)
    assert data.submissions == sorted(data.submissions, key=listing_key)
    forms = {v["form"] for v in data.submissions}
    assert forms == {"task_report", "connectivity_report", "digital_skills_report", "public_service_report",
                     "capacity_report"}
    periods = {v["period"] for v in data.submissions if v["form"] == "public_service_report"}
    assert set(month_range("2024-09", "2025-09")) <= periods
    assert any(v["version"] > 1 and v["status"] == "submitted" for v in data.submissions)  # corrections
    assert any(v["status"] == "withdrawn" for v in data.submissions)
    catalogue = set(codes) | {national_task_code("TW57-999", SMALL_PROVINCE)}
    for version in data.submissions:
        if version["form"] == "task_report":
            assert {e["task_code"] for e in version["payload"]["tasks"]} <= catalogue
    ids = [(v["submission_id"], v["version"]) for v in data.submissions]
    assert len(ids) == len(set(ids))


def test_national_generator_with_a_longer_history() -> None:
    """A history from ``first_period`` on: every period filed, corrections in every year, units
    active before the first filing (the bench's 5-year run, on one province and 3 years)."""
    data = build_national_dataset([SMALL_PROVINCE], first_period="2022-09", active_from="2022-01-01")
    assert all(u["active_from"] == "2022-01-01" for u in data.units)
    monthly = [v for v in data.submissions if v["form"] == "connectivity_report"]
    periods = {v["period"] for v in monthly}
    assert set(month_range("2022-09", "2025-09")) <= periods and min(periods) == "2022-09"
    assert min(v["submitted_at"] for v in monthly) > "2022-10-01"
    corrected = {
        v["updated_at"][:4] for v in data.submissions if v["version"] > 1 and v["status"] == "submitted"
    }
    assert corrected == {"2022", "2023", "2024", "2025"}
    assert len(data.submissions) > 2.5 * len(build_national_dataset([SMALL_PROVINCE]).submissions)


def test_national_generator_is_deterministic(small_national) -> None:
    again = build_national_dataset([SMALL_PROVINCE])
    assert json.dumps(again.__dict__, ensure_ascii=False) == json.dumps(
        small_national.__dict__, ensure_ascii=False
    )


def test_national_portal_process_and_clock(tmp_path: Path) -> None:
    with PortalProcess(
        "smoke-token", tmp_path / "portal.log", national=True, provinces=[SMALL_PROVINCE]
    ) as portal:
        assert portal.dataset["units"] == 38
        portal.set_clock(clock_for("2024-10-31"))
        request = urllib.request.Request(
            f"{portal.url}/api/v1/submissions?limit=500", headers={"Authorization": "Bearer smoke-token"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            items = json.loads(response.read())["items"]
    assert items and max(i["updated_at"] for i in items) <= "2024-11-01T01:00:00+07:00"


def test_national_portal_with_a_longer_history(tmp_path: Path) -> None:
    """The bench's portal for the calendar of ``--history-months``: units active from before the
    first period, and a clock at the first month's end serves that month's filings only."""
    calendar = national_calendar(24)
    with PortalProcess(
        "smoke-token",
        tmp_path / "portal.log",
        national=True,
        provinces=[SMALL_PROVINCE],
        first_period=calendar["first_period"],
        active_from=calendar["active_from"],
    ) as portal:
        portal.set_clock(clock_for(calendar["month_1_as_of"]))
        headers = {"Authorization": "Bearer smoke-token"}
        request = urllib.request.Request(f"{portal.url}/api/v1/units", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            units = json.loads(response.read())["items"]
        request = urllib.request.Request(f"{portal.url}/api/v1/submissions?limit=500", headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            items = json.loads(response.read())["items"]
    assert len(units) == 38 and {u["active_from"] for u in units} == {"2023-01-01"}
    assert items and {i["period"] for i in items} == {"2023-09"}
    assert max(i["updated_at"] for i in items) <= "2023-11-01T01:00:00+07:00"


def test_sampler_sees_the_whole_process_tree(tmp_path: Path) -> None:
    child = "import time; b = bytearray(60 * 1024 * 1024); time.sleep(0.8)"
    parent = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {child!r}])"
    run = run_measured([sys.executable, "-c", parent], {}, tmp_path / "tree.log", tmp_path)
    assert run.returncode == 0 and run.samples > 0
    assert run.peak_rss_bytes > 60 * 1024 * 1024 > run.peak_single_process_rss_bytes - 60 * 1024 * 1024
    sampler = ProcessTreeSampler(2**22 + 12345)  # no such process: nothing to add up
    assert sampler.sample() == 0


@pytest.fixture(scope="module")
def floor_run(tmp_path_factory):
    """One real `airflow dags test bench_floor` (three trivial tasks) in the project's Airflow
    home, read back from its metadata database as the bench reads every night."""
    from commune_dx.cli import airflow_env
    from commune_dx.settings import REPO_ROOT

    env = airflow_env() | {"AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "bench" / "dags")}
    log = tmp_path_factory.mktemp("floor") / "floor.log"
    started = datetime.now(UTC)
    airflow = str(Path(sys.executable).with_name("airflow"))
    run = run_measured([airflow, "dags", "test", "bench_floor"], env, log, REPO_ROOT)
    assert run.returncode == 0, log.read_text(encoding="utf-8")[-3000:]
    airflow_db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
    return run, airflow_db, started, read_dag_run(airflow_db, "bench_floor", started)


def test_stage_times_come_from_the_metadata_database(floor_run) -> None:
    run, airflow_db, started, dag_run = floor_run
    assert dag_run["state"] == "success"
    tasks = dag_run["tasks"]
    assert set(tasks) == {"first", "second", "third"}
    assert all(t["instances"] == 1 and t["busy_seconds"] > 0 for t in tasks.values())
    assert all(t["seconds"] == pytest.approx(t["busy_seconds"], abs=0.01) for t in tasks.values())
    # The tasks ran one after the other, inside the command's wall time.
    order = [tasks[name] for name in ("first", "second", "third")]
    for before, after in zip(order, order[1:], strict=False):
        assert before["last_end"] <= after["first_start"]
    assert started <= datetime.fromisoformat(tasks["first"]["first_start"])
    assert sum(t["seconds"] for t in tasks.values()) < dag_run["run_duration_seconds"] < run.wall_seconds
    # Each task's peak RSS, from the sampler's series over the task's own start and end.
    peaks = peak_rss_by_task(run.series, tasks)
    assert set(peaks) == set(tasks) and all(peak > 50 * 1024 * 1024 for peak in peaks.values())
    with pytest.raises(RuntimeError, match="no run of bench_floor since"):
        read_dag_run(airflow_db, "bench_floor", datetime.now(UTC))


def test_nightly_stages_and_counts() -> None:
    log = textwrap.dedent("""\
        2025-01-01T00:00:05.000000Z [info ] validated 30 versions in 1.2s: 4 invalid (quarantined) [x]
        2025-01-01T00:00:05.000000Z [info ] loaded 120 versions, 100 new [commune_dx.nightly]
        """)
    assert parse_night_log(log) == {
        "versions_landed": 120, "versions_new": 100, "versions_validated": 30, "versions_invalid": 4
    }
    tasks = {"preflight": {"seconds": 2.0}, "pull_unit_batch": {"seconds": 2.0}}
    stages = nightly_stages({"tasks": tasks}, wall_seconds=10.0)
    assert stages["preflight"] == 2.0 and stages["pull"] == 2.0 and stages["validate"] == 0.0
    assert stages["airflow_outside_tasks"] == pytest.approx(6.0)


def _landing(tmp_path: Path, data) -> Path:
    """A landing folder as a night leaves it: the client's compact records, units, tasks and
    a validation result per version (a few invalid, with reasons)."""
    run_dir = landing.run_dir(tmp_path, "smoke")
    landing.write_snapshots(run_dir, data.units, data.tasks)
    verdicts = []
    for unit in data.units:
        records = [
            json.dumps(v, ensure_ascii=False, separators=(",", ":"))
            for v in data.submissions
            if v["unit_code"] == unit["unit_code"]
        ]
        with landing.unit_writer(landing.units_dir(run_dir), unit["unit_code"]) as fh:
            fh.write("".join(r + "\n" for r in records).encode("utf-8"))
        for i, record in enumerate(records):
            reasons = ["payload: made up", "period: made up"] if i % 17 == 3 else []
            verdicts.append((landing.content_hash(record), not reasons, reasons))
    landing.write_validation(run_dir, verdicts)
    landing.write_line_map(run_dir, landing.iter_landed_versions(run_dir))
    return run_dir


def test_load_run_parses_what_read_json_parses_and_is_idempotent(tmp_path: Path, small_national) -> None:
    """The load's envelope parse (one JSON parse per record, in SQL) gives the same typed rows
    as DuckDB's own read_json over the same files; every version is stored once, with its
    validation result; a second load of the same landing adds nothing."""
    import duckdb

    from bench.loading_limits import READ_JSON_COLUMNS
    from commune_dx.loading import load_run

    run_dir = _landing(tmp_path, small_national)
    pulls = pull_results_of(run_dir)
    db = tmp_path / "load.duckdb"
    stats = load_run(db, run_dir, "smoke", "2025-09-30", pulls)
    versions = len(small_national.submissions)
    assert stats == {"versions_landed": versions, "versions_new": versions}
    assert load_run(db, run_dir, "smoke-2", "2025-09-30", pulls) == {
        "versions_landed": versions,
        "versions_new": 0,
    }
    ours = (  # the payload as staging derives it from the record
        "submission_id, version, unit_code, form, form_version, period, status, submitted_at, "
        "updated_at, nfc_normalize(CAST(json_extract(record, '$.payload') AS VARCHAR))"
    )
    # read_json keeps text as sent; the load normalises it to NFC (the demo data has NFD notes).
    theirs = (
        "submission_id, version, unit_code, form, form_version, period, status, submitted_at, "
        "updated_at, nfc_normalize(CAST(json(payload) AS VARCHAR))"
    )
    con = duckdb.connect(str(db), read_only=True)
    con.execute("SET TimeZone = 'Asia/Ho_Chi_Minh'")
    glob = landing.unit_files_glob(run_dir).replace("'", "''")
    source = f"read_json('{glob}', format = 'newline_delimited', columns = {READ_JSON_COLUMNS})"
    differing = con.execute(
        f"SELECT count(*) FROM ((SELECT {ours} FROM raw.submission_versions EXCEPT ALL "
        f"SELECT {theirs} FROM {source}) UNION ALL (SELECT {theirs} FROM {source} EXCEPT ALL "
        f"SELECT {ours} FROM raw.submission_versions))"
    ).fetchone()[0]
    assert differing == 0
    counts = con.execute(
        "SELECT (SELECT count(*) FROM raw.submission_versions), "
        "(SELECT count(DISTINCT (submission_id, version, content_hash)) FROM raw.submission_versions), "
        "(SELECT count(*) FROM raw.validation_results), "
        "(SELECT count(*) FILTER (WHERE NOT is_valid AND reasons LIKE '%made up%') "
        " FROM raw.validation_results)"
    ).fetchone()
    con.close()
    lines = (run_dir / landing.VALIDATION).read_text(encoding="utf-8").splitlines()
    invalid = sum(1 for line in lines if not json.loads(line)["is_valid"])
    assert counts == (versions, versions, versions, invalid) and invalid > 0


def test_loading_limits_command_line(tmp_path: Path, small_national) -> None:
    run_dir = _landing(tmp_path, small_national)
    for what, args in (
        ("read_json", ["--source", landing.unit_files_glob(run_dir)]),
        ("load_run", ["--run-dir", str(run_dir)]),
    ):
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.loading_limits",
                what,
                *args,
                "--db",
                str(tmp_path / f"{what}.duckdb"),
            ],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parents[1],
        )
        result = json.loads(done.stdout.splitlines()[-1])
        assert result["seconds"] >= 0 and result["db_bytes"] > 0


def test_results_file_structure(tmp_path: Path) -> None:
    results = {
        "command": "python -m bench.run_bench",
        "started_at": "x",
        "finished_at": "y",
        "machine": {"nproc": 2, "memory_bytes": 2**34, "python": "3.11", "packages": {"duckdb": "1.5"}},
        "dataset": {"units": 38, "tasks": 175, "versions": 1696, "history_months": 60},
        "floor": {"median_wall_seconds": 15.0, "wall_seconds": [15.0], "runs": []},
        "demo_night": {
            "median_wall_seconds": 29.0,
            "wall_seconds": [29.0],
            "runs": [],
            "median_run": {"wall_seconds": 29.0, "stages": {"pull": 1.0}},
        },
        "national_night": {
            "wall_seconds": 120.0,
            "peak_rss_bytes": 2**30,
            "stages": {"pull": 20.0, "load": 20.0},
            "versions_landed": 128000,
            "pull_load_versions_per_second": 3200,
        },
        "incremental": {
            "months_1": {"median_wall_seconds": 30.0, "nights": [], "initial": None},
            "months_60": {"median_wall_seconds": 60.0, "nights": [], "initial": None},
        },
        "dlt": {"tuned": {"versions": 128000, "run_seconds": 32.0, "versions_per_second": 4000}},
        "loaders": {
            "load_run": {"median_seconds": 20.0},
            "read_json_per_unit_files": {"median_seconds": 2.0},
        },
        "pull_direct": {"seconds": 12.0, "versions": 128000},
    }
    json_path, md_path = write_results(results, tmp_path)
    written = json.loads(json_path.read_text(encoding="utf-8"))
    assert set(SECTIONS) <= set(written)
    targets = {t["name"]: t for t in written["targets"]}
    assert len(targets) == 7
    for target in targets.values():
        assert {"name", "goal", "ratio", "limit", "met", "verdict", "measured"} <= set(target)
    assert targets["demo night vs Airflow floor"]["ratio"] == pytest.approx(29 / 15, abs=1e-3)
    assert targets["demo night vs Airflow floor"]["met"] is True  # 1.93 ≤ 2.5
    assert "1.68" in targets["demo night vs Airflow floor"]["measured"]  # the ratio before issue 17
    assert targets["pull+load vs dlt"]["met"] is False
    without_airflow = targets["pull+load vs dlt, both without Airflow"]
    assert without_airflow["ratio"] == pytest.approx(128000 / 32 / 4000, abs=1e-3)  # pull 12 s + load 20 s
    assert targets["pull+load vs dlt"]["verdict"] == "MISSED by 60 %"  # 3,200/s of the 8,000/s wanted
    assert targets["incremental night, 60 vs 1 month of history"]["verdict"] == "MISSED by 54 %"  # 2.0 / 1.3
    assert targets["national first load wall"]["met"] is True
    markdown = md_path.read_text(encoding="utf-8")
    assert "## Targets" in markdown and "MISSED by 54 %" in markdown
    assert "national, 60 months of history: first load" in markdown
    assert all(t.met is None for t in evaluate_targets({}))  # a partial run says "not measured"


def test_bench_calendar() -> None:
    assert clock_for("2025-09-30") == "2025-10-01T01:00:00+07:00"
    assert next_days("2024-10-31", 2) == ["2024-11-01", "2024-11-02"]
    assert national_calendar(60) == {
        "first_period": "2020-09",
        "active_from": "2020-01-01",
        "as_of": "2025-09-30",
        "month_1_as_of": "2020-10-31",
    }
    assert national_calendar(12)["first_period"] == "2024-09"  # the history of the 12-month bench
    assert national_calendar(1)["month_1_as_of"] == "2025-09-30"


def test_load_run_refuses_a_landing_line_changed_after_validation(tmp_path: Path, small_national) -> None:
    """The load takes each line's sha256 from the validate step's line map; a line edited since
    (another length) stops the load with a clear error, and nothing is stored."""
    import duckdb

    from commune_dx.loading import load_run

    run_dir = _landing(tmp_path, small_national)
    unit_file = landing.unit_files(run_dir)[0]
    lines = unit_file.read_text(encoding="utf-8").split("\n")
    lines[1] = lines[1].replace('"version":', '"version": ', 1)
    unit_file.write_text("\n".join(lines), encoding="utf-8")
    db = tmp_path / "load.duckdb"
    with pytest.raises(duckdb.Error, match=rf"{unit_file.name} line 2 has no validation result or changed"):
        load_run(db, run_dir, "smoke", "2025-09-30", pull_results_of(run_dir))
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT count(*) FROM raw.submission_versions").fetchone()[0] == 0
    con.close()
