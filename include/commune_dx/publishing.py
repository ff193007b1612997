"""Publishing the marts: a new ``serving.duckdb`` swapped in atomically, plus Parquet and exports.

Readers (analysts, BI tools) only ever open the published file, read-only. It is built beside
the old one under a temporary name and moved over it with ``os.replace``: a reader that has the
old file open keeps reading the old state; the next one opens the new state; nobody sees a mix,
and no reader can block the pipeline's writer (the pipeline never opens the published file for
writing, so a reader's lock on it is irrelevant). The file is written in a storage format that
DuckDB 1.x readers (as bundled in BI drivers) can open, and is left without write permission:
it is a snapshot, never a database to write into.

Each Parquet file is swapped the same way, table by table, right after ``serving.duckdb``, and
then each export (``exports/<table>.csv`` and ``exports/marts.xlsx``, see ``exports``); a reader
that needs several tables of the same night should read ``serving.duckdb`` or the workbook.
Everything is built under temporary names first: a publish that fails or is killed before the
swaps leaves every published file as it was.

For analysts, the serving file carries dbt's descriptions (persisted by dbt into the working
warehouse, ``persist_docs`` in ``dbt_project.yml``) as table and column comments, and a view in
schema ``main`` over each mart, so ``SELECT * FROM task_status`` works without the ``marts.``
prefix. Each Parquet file carries them as key-value metadata: ``description`` for the table,
``description.<column>`` for each column.

Publishers are serialised by a lock file in the warehouse directory, so a manual ``make night``
and a scheduled run cannot interleave their swaps; the lock holder also removes what a crashed
publisher left behind.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from commune_dx.exports import (
    WORKBOOK_NAME,
    ColumnDoc,
    MartDoc,
    quote_ident,
    sql_literal,
    write_csv,
    write_workbook,
)
from commune_dx.landing import TEMP_SUFFIX, fsync_path, move_into_place, temp_path
from commune_dx.settings import LOCAL_TZ, MART_TABLES, duckdb_config

log = logging.getLogger(__name__)

# Readable by every DuckDB from 1.0 on; raise deliberately if a newer storage feature is needed.
SERVING_STORAGE_VERSION = "v1.0.0"
# The published file is a snapshot: readable by everyone, writable by no one (not even its owner).
PUBLISHED_FILE_MODE = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
LOCK_NAME = ".publish.lock"


@contextmanager
def _publish_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory/.publish.lock`` (blocks until it is free)."""
    with (directory / LOCK_NAME).open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_leftovers(serving_db: Path, *dirs: Path) -> None:
    """Remove what an interrupted publisher left: temporary files and a stray write-ahead log.

    Nothing ever writes into the published file, so a ``serving.duckdb.wal`` beside it can only
    come from a reader that opened it read-write; replayed onto the next published file it would
    corrupt it.
    """
    for stale in serving_db.parent.glob(f".{serving_db.name}.*{TEMP_SUFFIX}*"):
        stale.unlink(missing_ok=True)
    for stale_dir in (stale for d in dirs for stale in d.glob(".publish-*")):
        for child in stale_dir.iterdir():
            child.unlink()
        stale_dir.rmdir()
    wal = serving_db.with_name(serving_db.name + ".wal")
    if wal.exists():
        log.warning("removing %s: someone opened the published file read-write", wal)
        wal.unlink()


def _available_marts(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables of schema ``marts`` in the attached working warehouse: all of MART_TABLES, in
    their order, then any others by name."""
    available = {
        row[0]
        for row in con.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = 'working' AND table_schema = 'marts'"
        ).fetchall()
    }
    missing = [t for t in MART_TABLES if t not in available]
    if missing:
        raise RuntimeError(
            f"the working warehouse lacks mart(s) {', '.join(missing)}: dbt build did not "
            "produce them; nothing was published"
        )
    return [*MART_TABLES, *sorted(available - set(MART_TABLES))]


def _description(text: str | None) -> str | None:
    return unicodedata.normalize("NFC", text.strip()) if text and text.strip() else None


def _working_docs(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str | None, tuple[ColumnDoc, ...]]]:
    """Each mart's description and columns as dbt left them in the attached working warehouse."""
    where = "WHERE database_name = 'working' AND schema_name = 'marts'"
    tables = con.execute(f"SELECT table_name, comment FROM duckdb_tables() {where}").fetchall()
    columns: dict[str, list[ColumnDoc]] = {}
    for table, name, data_type, text in con.execute(
        f"SELECT table_name, column_name, data_type, comment FROM duckdb_columns() {where} "
        "ORDER BY table_name, column_index"
    ).fetchall():
        columns.setdefault(table, []).append(ColumnDoc(name, data_type, _description(text)))
    return {table: (_description(text), tuple(columns[table])) for table, text in tables}


def _publish_docs(con: duckdb.DuckDBPyConnection, relation: str, view: str, description: str | None,
                  columns: tuple[ColumnDoc, ...]) -> None:
    """Comment the serving table and its view in schema ``main`` with the mart's descriptions."""
    if description:
        con.execute(f"COMMENT ON TABLE {relation} IS {sql_literal(description)}")
        con.execute(f"COMMENT ON VIEW {view} IS {sql_literal(description)}")
    for column in columns:
        if column.description:
            con.execute(f"COMMENT ON COLUMN {relation}.{quote_ident(column.name)} "
                        f"IS {sql_literal(column.description)}")


def _kv_metadata(description: str | None, columns: tuple[ColumnDoc, ...]) -> str:
    """The ``KV_METADATA`` option of a Parquet COPY carrying the descriptions, or nothing."""
    pairs = [("description", description)] + [(f"description.{c.name}", c.description) for c in columns]
    entries = [f"{sql_literal(key)}: {sql_literal(value)}" for key, value in pairs if value]
    return f", KV_METADATA {{{', '.join(entries)}}}" if entries else ""


def _build(working_db: Path, tmp_db: Path, tmp_parquet: Path, tmp_exports: Path,
           fail_after_exporting: str | None = None) -> dict[str, int]:
    """Write every mart into ``tmp_db`` (schema ``marts``, views in ``main``),
    ``tmp_parquet/<table>.parquet``, ``tmp_exports/<table>.csv`` and the workbook."""
    counts: dict[str, int] = {}
    marts: list[MartDoc] = []
    # Whatever DuckDB spills goes into the publish's own temporary folder (gone with the connection).
    con = duckdb.connect(config=duckdb_config(temp_directory=str(tmp_parquet)))
    try:
        con.execute(f"SET TimeZone = {sql_literal(LOCAL_TZ)}")  # the CSVs' timestamps in local time
        con.execute(f"ATTACH {sql_literal(str(working_db))} AS working (READ_ONLY)")
        tables = _available_marts(con)
        con.execute(
            f"ATTACH {sql_literal(str(tmp_db))} AS serving (STORAGE_VERSION '{SERVING_STORAGE_VERSION}')"
        )
        docs = _working_docs(con)
        con.execute("BEGIN")  # one commit for the serving file's tables, views and comments
        con.execute("CREATE SCHEMA serving.marts")
        for table in tables:
            relation, view = f"serving.marts.{quote_ident(table)}", f"serving.main.{quote_ident(table)}"
            con.execute(f"CREATE TABLE {relation} AS SELECT * FROM working.marts.{quote_ident(table)}")
            # Bound by name inside the serving file, whatever name a reader attaches it under.
            con.execute(f"CREATE VIEW {view} AS SELECT * FROM marts.{quote_ident(table)}")
            description, columns = docs[table]
            _publish_docs(con, relation, view, description, columns)
            counts[table] = con.execute(f"SELECT count(*) FROM {relation}").fetchone()[0]
            target = sql_literal(str(tmp_parquet / f"{table}.parquet"))
            con.execute(f"COPY {relation} TO {target} (FORMAT parquet{_kv_metadata(description, columns)})")
            write_csv(con, relation, tmp_exports / f"{table}.csv")
            if table == fail_after_exporting:
                raise RuntimeError(f"fault injected after exporting {table} (fail_after_exporting)")
            marts.append(MartDoc(table, description, columns, counts[table]))
        write_workbook(con, "serving.marts", marts, tmp_exports / WORKBOOK_NAME)
        con.execute("COMMIT")
        con.execute("DETACH serving")  # checkpoints: the file is complete, with no WAL beside it
        con.execute("DETACH working")
    finally:
        con.close()
    return counts


def publish_marts(working_db: Path, serving_db: Path, parquet_dir: Path, exports_dir: Path | None = None,
                 *, fail_after_exporting: str | None = None) -> dict[str, int]:
    """Copy schema ``marts`` of the working warehouse into a fresh serving file, Parquet and exports.

    ``exports_dir`` defaults to ``exports/`` beside ``serving_db``. ``fail_after_exporting`` is
    fault injection for tests: the publish fails right after that mart's CSV is written.
    Returns the row count of each published table. On any error before the swap, the published
    files stay exactly as they were.
    """
    exports_dir = exports_dir or serving_db.with_name("exports")
    serving_db.parent.mkdir(parents=True, exist_ok=True)
    parquet_dir.mkdir(parents=True, exist_ok=True)
    exports_dir.mkdir(parents=True, exist_ok=True)
    tmp_db = temp_path(serving_db)
    tmp_parquet = parquet_dir / f".publish-{os.getpid()}"
    tmp_exports = exports_dir / f".publish-{os.getpid()}"
    with _publish_lock(serving_db.parent):
        _remove_leftovers(serving_db, parquet_dir, exports_dir)
        tmp_parquet.mkdir()
        tmp_exports.mkdir()
        try:
            counts = _build(working_db, tmp_db, tmp_parquet, tmp_exports, fail_after_exporting)
        except BaseException:
            _remove_leftovers(serving_db, parquet_dir, exports_dir)
            raise
        move_into_place(tmp_db, serving_db, PUBLISHED_FILE_MODE)
        fsync_path(serving_db.parent)
        for table in counts:
            move_into_place(tmp_parquet / f"{table}.parquet", parquet_dir / f"{table}.parquet",
                            PUBLISHED_FILE_MODE)
        tmp_parquet.rmdir()
        fsync_path(parquet_dir)
        exported = [f"{table}.csv" for table in counts] + [WORKBOOK_NAME]
        for name in exported:
            move_into_place(tmp_exports / name, exports_dir / name, PUBLISHED_FILE_MODE)
        tmp_exports.rmdir()
        for stale in exports_dir.glob("*.csv"):
            if stale.name not in exported:  # a mart no longer published
                stale.unlink()
        fsync_path(exports_dir)
    return counts
