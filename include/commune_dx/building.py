"""Building the marts: dbt run inside the calling process, the standard way (``dbtRunner``).

``dbt build`` is one invocation over the working warehouse, with dbt's own partial parsing
(``partial_parse.msgpack`` in the target folder). The night's as-of date reaches dbt as the one
row of ``raw.dbt_run_context`` (see ``dbt_project/macros/run_vars.sql``), not as a var or env
var: either changes every night and would make dbt re-parse the whole project each time.

After a green build, ``dbt source freshness`` (it only warns) and ``dbt docs generate``, whose
static site the HTML report links to, are two more invocations of the same kind.

dbt's log lines go to the logger ``commune_dx.dbt`` (the Airflow task log), not to stdout.
DuckDB has one writer at a time: the profile sets dbt-duckdb's ``keep_open: false`` (its
default keeps the database open for the life of the process), so dbt closes the warehouse at
the end of every command, and ``publish``, the next night or a shell can open it as soon as
these functions return, even when the tasks share a process (``airflow dags test``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

import duckdb

from commune_dx.landing import write_bytes_atomic
from commune_dx.portal_client import PipelineError
from commune_dx.settings import DBT_PROJECT_DIR, Settings, duckdb_config

log = logging.getLogger(__name__)
dbt_log = logging.getLogger("commune_dx.dbt")

# dbt's event levels that reach the task log; its debug events go to its own log file only.
LOG_LEVELS = {"info": logging.INFO, "warn": logging.WARNING, "error": logging.ERROR}


@dataclass
class DbtInvocation:
    """The outcome of one dbt command: whether it succeeded, and its log lines."""

    success: bool
    lines: list[str] = field(default_factory=list)
    exception: BaseException | None = None

    def failures(self) -> list[str]:
        """dbt's FAIL and ERROR lines, else its last lines, else its exception."""
        failed = [line for line in self.lines if "FAIL" in line or "ERROR" in line]
        if self.exception is not None:
            failed.append(f"{type(self.exception).__name__}: {self.exception}")
        return failed or self.lines[-5:]


def write_run_context(settings: Settings, as_of_date: str) -> None:
    """Replace ``raw.dbt_run_context`` with the night's as-of date; the connection is closed
    before dbt opens the warehouse."""
    day = date.fromisoformat(as_of_date).isoformat()  # checked, so safe to inline
    con = duckdb.connect(str(settings.working_db))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        con.execute(f"CREATE OR REPLACE TABLE raw.dbt_run_context AS SELECT DATE '{day}' AS as_of_date")
    finally:
        con.close()


@contextmanager
def _dbt_environment(settings: Settings) -> Iterator[None]:
    """The environment variables the dbt project reads (``profiles.yml``, the calendar macro),
    set for the invocation only and restored afterwards (tasks may share a process)."""
    wanted = {"WAREHOUSE_DIR": str(settings.warehouse_dir), "COMMUNE_CALENDAR_START": settings.calendar_start,
              "COMMUNE_DUCKDB_MEMORY_LIMIT": duckdb_config()["memory_limit"]}
    saved = {name: os.environ.get(name) for name in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def invoke_dbt(settings: Settings, command: list[str]) -> DbtInvocation:
    """Run one dbt command (e.g. ``["build"]``) on the project, in this process; its info,
    warning and error lines are logged to ``commune_dx.dbt`` as they come."""
    from dbt.cli.main import dbtRunner

    lines: list[str] = []

    def log_event(event) -> None:
        level = LOG_LEVELS.get(event.info.level)
        if level is not None and event.info.msg:
            lines.append(event.info.msg)
            dbt_log.log(level, "%s", event.info.msg)

    args = [
        *command,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(settings.dbt_target_dir),
        "--log-path", str(settings.warehouse_dir / "logs"),
        # Nothing on stdout: the lines reach the task log through log_event. dbt's debug file
        # (every statement) only when asked for with DBT_LOG_LEVEL_FILE=debug.
        "--log-level", "none",
        "--log-level-file", os.environ.get("DBT_LOG_LEVEL_FILE") or "none",
        "--no-use-colors",
    ]
    with _dbt_environment(settings):
        result = dbtRunner(callbacks=[log_event]).invoke(args)
    return DbtInvocation(result.success, lines, result.exception)


def build_marts(settings: Settings, as_of_date: str) -> None:
    """Build the marts for ``as_of_date`` with ``dbt build`` (dbt's unit tests excluded: they
    test fixed inputs, not the night's data, and run in ``make test``), then check source
    freshness and write the docs site to ``settings.dbt_docs_dir``. Raises
    :class:`PipelineError` with dbt's FAIL and ERROR lines if the build is red; freshness and
    docs only warn when they fail, since the marts are built by then."""
    write_run_context(settings, as_of_date)
    build = invoke_dbt(settings, ["build", "--exclude-resource-type", "unit_test"])
    if not build.success:
        raise PipelineError(
            "dbt build failed; nothing was published: " + " | ".join(build.failures()[-5:])
            + " (dbt's whole output is in this task's log)"
        )
    freshness = invoke_dbt(settings, ["source", "freshness"])
    if not freshness.success:
        log.warning("dbt source freshness failed (the marts are built): %s",
                    " | ".join(freshness.failures()[-3:]))
    # The docs site is regenerated every night, in a third invocation: the report links to it.
    # It documents the models, their SQL and columns; compiling every node again would add
    # nothing the build did not check.
    docs = invoke_dbt(settings, ["docs", "generate", "--static", "--no-compile"])
    if not docs.success:
        log.warning("dbt docs generate failed; %s keeps the previous site: %s",
                    settings.dbt_docs_dir, " | ".join(docs.failures()[-3:]))
        return
    write_bytes_atomic(settings.dbt_docs_dir / "index.html",
                       (settings.dbt_target_dir / "static_index.html").read_bytes())
    log.info("dbt docs: %s", settings.dbt_docs_dir / "index.html")
