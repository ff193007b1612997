"""Building the marts (``commune_dx.building``): dbt inside the calling process, the standard way.

The nightly's dbt step runs on the hand-built raw layer of ``tests/dbt/raw_layer.py`` (created
with the load's own DDL) in a fresh warehouse; the helpers are checked on their own."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

import duckdb
import pytest

from commune_dx.building import DbtInvocation, invoke_dbt, write_run_context
from commune_dx.loading import connect_working
from commune_dx.settings import Settings
from tests.dbt.raw_layer import _insert_submissions, load_night_1, load_night_2, services


@pytest.fixture()
def night_settings(tmp_path, monkeypatch):
    """Settings for the nightly's dbt step on a fresh warehouse holding both fixture nights'
    raw layer (no mart built yet)."""
    warehouse_dir = tmp_path / "warehouse"
    with connect_working(warehouse_dir / "warehouse.duckdb") as con:
        load_night_1(con)
        load_night_2(con)
    monkeypatch.setenv("WAREHOUSE_DIR", str(warehouse_dir))
    monkeypatch.delenv("DBT_LOG_LEVEL_FILE", raising=False)
    return Settings.from_env()


# Loaded after night 2 (the load stamps pulled_at with its own clock, which incremental models
# rely on to find what is new).
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



def test_the_run_context_holds_one_row_the_last_as_of_date(tmp_path):
    settings = replace(Settings.from_env(), warehouse_dir=tmp_path)
    write_run_context(settings, "2025-09-21")
    write_run_context(settings, "2025-09-22")
    with duckdb.connect(str(settings.working_db), read_only=True) as con:
        rows = con.execute("select as_of_date from raw.dbt_run_context").fetchall()
    assert [str(row[0]) for row in rows] == ["2025-09-22"]
    with pytest.raises(ValueError):  # never inlined into SQL unchecked
        write_run_context(settings, "2025-09-22'; drop table raw.dbt_run_context; --")


def test_failures_name_dbts_fail_and_error_lines_else_its_last_lines():
    lines = ["Running with dbt", "1 of 3 PASS unique_x", "2 of 3 FAIL 1 not_null_y", "3 of 3 ERROR z",
             "Done."]
    assert DbtInvocation(False, lines).failures() == ["2 of 3 FAIL 1 not_null_y", "3 of 3 ERROR z"]
    quiet = [f"line {n}" for n in range(8)]
    assert DbtInvocation(False, quiet).failures() == quiet[-5:]
    crashed = DbtInvocation(False, [], RuntimeError("profile not found"))
    assert crashed.failures() == ["RuntimeError: profile not found"]


def test_dbt_sees_the_warehouse_for_its_invocation_only(tmp_path, monkeypatch):
    """The project's environment variables are set while dbt runs and restored afterwards:
    tasks may share one process."""
    monkeypatch.setenv("WAREHOUSE_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.delenv("COMMUNE_CALENDAR_START", raising=False)
    settings = replace(Settings.from_env(), warehouse_dir=tmp_path / "warehouse")
    with connect_working(settings.working_db) as con:  # a table only this warehouse has
        con.execute("create table raw.only_here as select 42 as answer")
    shown = invoke_dbt(settings, ["show", "--inline", "select answer from raw.only_here"])
    assert shown.success, shown.failures()
    assert any("42" in line for line in shown.lines), shown.lines
    assert os.environ["WAREHOUSE_DIR"] == str(tmp_path / "elsewhere")
    assert "COMMUNE_CALENDAR_START" not in os.environ
    assert not (tmp_path / "elsewhere").exists()
