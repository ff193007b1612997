"""The night's dbt work in one process: ``dbt build``, source freshness, and the docs site.

Run as ``python -m commune_dx.dbt_night DOCS_DIR AS_OF_DATE`` with the dbt environment set (see
:func:`commune_dx.nightly.dbt_build`). The as-of date goes to dbt as the one row of
``raw.dbt_run_context`` (see ``dbt_project/macros/run_vars.sql``), not as a var or env var:
those change every night and would make dbt re-parse the whole project each time. The project
is parsed once and the manifest reused by each command, so the extra steps cost little; the
warehouse has one writer (this process).

Views and the seed are re-created only when they could differ from what is in the warehouse:
the project, its settings or dbt changed, or the warehouse's views and seed tables are not the
ones the last such build left (a new warehouse, a manual ``dbt build --vars ...``, a dropped
view). They read the raw tables when queried, so re-creating identical ones each night only
cost time (~1.4 s of the demo's 4.7 s build). The data tests of views run every night; those
of seeds only when the seeds are re-created.

The docs site (``dbt docs generate --static``) is regenerated only when the project changed,
since it documents models and columns, not the night's data.

With ``--handoff DIR`` the process was started early by the validate task: it parses, then
waits for the dbt_build task's go before it opens the warehouse (:mod:`commune_dx.handoff`).

Exit status: 0 when the build is green (freshness only warns), 1 otherwise, 75 when started
early and never asked to build.
"""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
import sys
import traceback
from datetime import date
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb
from dbt.cli.main import dbtRunner

from commune_dx.handoff import EXPIRED, record_exit, wait_for_go
from commune_dx.settings import DBT_PROJECT_DIR, Settings

COMMON = ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
BUILD = ["--no-use-colors", "build", *COMMON, "--exclude-resource-type", "unit_test"]
# The nodes built when views and seeds are unchanged: tables, incremental models, the
# exposures and every data test but those of the seeds (their CSV and table did not change).
WITHOUT_VIEWS_AND_SEEDS = ["--select", "config.materialized:table", "config.materialized:incremental",
                           "resource_type:test", "resource_type:exposure",
                           "--exclude", "resource_type:seed"]
STATE_TABLE = "raw.dbt_relations_state"


def _project_fingerprint() -> str:
    """A hash of the project's sources (models, macros, seeds, configs), not of run output."""
    digest = hashlib.sha256()
    for folder in ("models", "macros", "seeds", "tests"):
        for path in sorted((DBT_PROJECT_DIR / folder).rglob("*")):
            if path.is_file():
                digest.update(str(path.relative_to(DBT_PROJECT_DIR)).encode())
                digest.update(path.read_bytes())
    digest.update((DBT_PROJECT_DIR / "dbt_project.yml").read_bytes())
    return digest.hexdigest()


def build_fingerprint(project_fingerprint: str) -> str:
    """What decides the SQL of views and the content of seeds: the project, the profile, the
    settings the models read when compiled, and the versions of dbt, its adapter and DuckDB."""
    parts = [
        project_fingerprint,
        hashlib.sha256((DBT_PROJECT_DIR / "profiles.yml").read_bytes()).hexdigest(),
        os.environ.get("COMMUNE_CALENDAR_START", ""),
        version("dbt-core"),
        version("dbt-duckdb"),
        duckdb.__version__,
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def views_and_seeds(manifest: Any) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The (schema, name) of the project's views and of its seeds, from the parsed manifest."""
    views, seeds = [], []
    for node in manifest.nodes.values():
        if node.resource_type == "model" and node.config.materialized == "view":
            views.append((node.schema, node.alias))
        elif node.resource_type == "seed":
            seeds.append((node.schema, node.alias))
    return sorted(views), sorted(seeds)


def relations_digest(con: duckdb.DuckDBPyConnection, views: list[tuple[str, str]],
                     seeds: list[tuple[str, str]]) -> str:
    """A hash of the warehouse's definitions of ``views`` and of which ``seeds`` exist."""
    sql = dict(
        ((schema, name), text) for schema, name, text in con.execute(
            "SELECT schema_name, view_name, sql FROM duckdb_views() WHERE NOT internal"
        ).fetchall()
    )
    tables = set(con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall())
    digest = hashlib.sha256()
    for key in views:
        digest.update(f"view {key[0]}.{key[1]}\n{sql.get(key, '<missing>')}\n".encode())
    for key in seeds:
        digest.update(f"seed {key[0]}.{key[1]} {'present' if key in tables else '<missing>'}\n".encode())
    return digest.hexdigest()


def _state_row(con: duckdb.DuckDBPyConnection) -> tuple[str, str] | None:
    schema, table = STATE_TABLE.split(".")  # constants, inlined (see prepare_warehouse)
    exists = con.execute(
        f"SELECT count(*) FROM duckdb_tables() WHERE schema_name = '{schema}' "
        f"AND table_name = '{table}'"
    ).fetchone()[0]
    if not exists:
        return None
    return con.execute(f"SELECT fingerprint, relations_digest FROM {STATE_TABLE}").fetchone()


def prepare_warehouse(working_db: Path, as_of_date: str, fingerprint: str,
                      views: list[tuple[str, str]], seeds: list[tuple[str, str]]) -> bool:
    """Replace ``raw.dbt_run_context`` with the night's as-of date; return True if the views and
    seeds are those the last build with this ``fingerprint`` left (so need not be re-created).
    The connection is closed before dbt opens the warehouse."""
    # The date is checked, then inlined: a bound parameter would make DuckDB import numpy and
    # pandas into this process (~0.35 s), which dbt does not need.
    day = date.fromisoformat(as_of_date).isoformat()
    con = duckdb.connect(str(working_db))
    try:
        con.execute("CREATE SCHEMA IF NOT EXISTS raw")
        con.execute(
            f"CREATE OR REPLACE TABLE raw.dbt_run_context AS SELECT DATE '{day}' AS as_of_date"
        )
        state = _state_row(con)
        return state == (fingerprint, relations_digest(con, views, seeds))
    finally:
        con.close()


def release_dbt_warehouse() -> None:
    """Close the DuckDB database dbt-duckdb keeps open for the whole process, so that the next
    connection reads the warehouse from its file (DuckDB prints a view's SQL differently right
    after creating it than after loading it, and the digest must match the next night's)."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.adapters.factory import reset_adapters

    reset_adapters()
    DuckDBConnectionManager.close_all_connections()
    gc.collect()


def finish(working_db: Path, state: tuple[str, list[tuple[str, str]], list[tuple[str, str]]] | None) -> None:
    """Checkpoint the warehouse (the night's changes into the file, not only its WAL); after a
    build that re-created views and seeds, first record what it left (``state``: fingerprint,
    views, seeds). Neither is needed for correctness: committed work is safe in the WAL, and
    without a record the next night re-creates the views again. So a failure only warns."""
    if state is not None:
        try:
            release_dbt_warehouse()  # ~0.3 s, only on nights that re-created the views
        except Exception as exc:  # dbt-duckdb's internals moved: the digest will not match,
            print(f"dbt: could not close dbt's database ({exc})", flush=True)  # views rebuilt
    try:
        con = duckdb.connect(str(working_db))
        try:
            if state is not None:
                fingerprint, views, seeds = state
                digest = relations_digest(con, views, seeds)  # both hex: safe to inline
                con.execute(
                    f"CREATE OR REPLACE TABLE {STATE_TABLE} AS SELECT '{fingerprint}' AS "
                    f"fingerprint, '{digest}' AS relations_digest, now() AS recorded_at"
                )
            con.execute("CHECKPOINT")
        finally:
            con.close()
    except duckdb.Error as exc:
        print(f"dbt: could not record the views' state or checkpoint ({exc}); the next night "
              "re-creates the views", flush=True)


def main(docs_dir: Path, as_of_date: str, handoff: Path | None = None) -> int:
    """The night's dbt work; with ``handoff``, started early: parse, then wait for dbt_build's
    go before opening the warehouse (see :mod:`commune_dx.handoff`)."""
    working_db = Settings.from_env().working_db
    # The manifest (manifest.json, ~0.4 s to write) is written at most once, by the build: not
    # by the parse nor by the freshness check.
    parsed = dbtRunner().invoke(["--no-use-colors", "--no-write-json", "parse", *COMMON])
    if not parsed.success:
        return 1
    manifest = parsed.result
    project = _project_fingerprint()
    fingerprint = build_fingerprint(project)
    views, seeds = views_and_seeds(manifest)
    if handoff is not None:
        print("dbt: project parsed; waiting for dbt_build (after the load)", flush=True)
        if not wait_for_go(handoff):
            return EXPIRED
        print("dbt: dbt_build asked for the build", flush=True)
    # Everything above leaves the warehouse alone: the load may be writing it meanwhile.
    unchanged = prepare_warehouse(working_db, as_of_date, fingerprint, views, seeds)
    runner = dbtRunner(manifest=manifest)
    stamp = docs_dir / ".manifest.sha256"
    docs_current = stamp.exists() and stamp.read_text() == project
    # manifest.json and run_results.json (~0.5 s to write) only when the docs need them; the
    # night's results are in the task log either way.
    build_args = BUILD if not docs_current else [BUILD[0], "--no-write-json", *BUILD[1:]]
    if unchanged:
        print(f"dbt: the {len(views)} views and {len(seeds)} seed(s) are unchanged since the last "
              "build that created them: not re-created (the views' data tests still run, the "
              "seeds' do not)", flush=True)
        build = runner.invoke([*build_args, *WITHOUT_VIEWS_AND_SEEDS])
    else:
        build = runner.invoke(build_args)
    if not build.success:
        return 1
    runner.invoke(["--no-use-colors", "--no-write-json", "source", "freshness", *COMMON])
    target = Path(os.environ["DBT_TARGET_PATH"])
    if not docs_current:
        docs = runner.invoke(["--no-use-colors", "docs", "generate", *COMMON, "--static", "--no-compile"])
        if docs.success:
            docs_dir.mkdir(parents=True, exist_ok=True)
            tmp = docs_dir / "index.html.tmp"
            shutil.copyfile(target / "static_index.html", tmp)
            os.replace(tmp, docs_dir / "index.html")
            stamp.write_text(project)
            print(f"dbt docs: {docs_dir / 'index.html'}", flush=True)
    finish(working_db, None if unchanged else (fingerprint, views, seeds))
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    handoff = None
    if len(args) == 4 and args[2] == "--handoff":
        handoff = Path(args[3])
    elif len(args) != 2:
        sys.exit("usage: python -m commune_dx.dbt_night DOCS_DIR AS_OF_DATE [--handoff DIR]")
    try:
        code = main(Path(args[0]), args[1], handoff)
    except BaseException:  # noqa: BLE001 - reported through the exit status below
        traceback.print_exc()
        code = 1
    if handoff is not None:
        record_exit(handoff, code)
    # Everything is written and the warehouse checkpointed: skip the interpreter's teardown of
    # dbt's objects (~0.8 s measured on the demo night).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
