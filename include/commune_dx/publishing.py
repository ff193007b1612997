"""Publishing the marts: a new ``serving.duckdb`` swapped in atomically, plus Parquet copies.

Readers (analysts, BI tools) only ever open the published file, read-only. It is built beside
the old one under a temporary name and moved over it with ``os.replace``: a reader that has the
old file open keeps reading the old state; the next one opens the new state; nobody sees a mix,
and no reader can block the pipeline's writer (the pipeline never opens the published file for
writing, so a reader's lock on it is irrelevant). The file is written in a storage format that
DuckDB 1.x readers (as bundled in BI drivers) can open, and is left without write permission:
it is a snapshot, never a database to write into.

Each Parquet file is swapped the same way, table by table, right after ``serving.duckdb``; a
reader that needs several tables of the same night should read ``serving.duckdb``.

Publishers are serialised by a lock file in the warehouse directory, so a manual ``make night``
and a scheduled run cannot interleave their swaps; the lock holder also removes what a crashed
publisher left behind.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from commune_dx.settings import MART_TABLES

log = logging.getLogger(__name__)

# Readable by every DuckDB from 1.0 on; raise deliberately if a newer storage feature is needed.
SERVING_STORAGE_VERSION = "v1.0.0"
# The published file is a snapshot: readable by everyone, writable by no one (not even its owner).
PUBLISHED_FILE_MODE = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
LOCK_NAME = ".publish.lock"


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")


def _fsync(path: Path) -> None:
    """Flush a file, or a directory entry after a rename, to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _publish_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory/.publish.lock`` (blocks until it is free)."""
    with (directory / LOCK_NAME).open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_leftovers(serving_db: Path, parquet_dir: Path) -> None:
    """Remove what an interrupted publisher left: temporary files and a stray write-ahead log.

    Nothing ever writes into the published file, so a ``serving.duckdb.wal`` beside it can only
    come from a reader that opened it read-write; replayed onto the next published file it would
    corrupt it.
    """
    for stale in serving_db.parent.glob(f".{serving_db.name}.*.tmp*"):
        stale.unlink(missing_ok=True)
    for stale_dir in parquet_dir.glob(".publish-*"):
        for child in stale_dir.iterdir():
            child.unlink()
        stale_dir.rmdir()
    wal = serving_db.with_name(serving_db.name + ".wal")
    if wal.exists():
        log.warning("removing %s: someone opened the published file read-write", wal)
        wal.unlink()


def _available_marts(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables of schema ``marts`` in the attached working warehouse; all of MART_TABLES."""
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
    return sorted(available)


def _build(working_db: Path, tmp_db: Path, tmp_parquet: Path) -> dict[str, int]:
    """Write every mart into ``tmp_db`` (schema ``marts``) and ``tmp_parquet/<table>.parquet``."""
    counts: dict[str, int] = {}
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{_sql_text(working_db)}' AS working (READ_ONLY)")
        tables = _available_marts(con)
        con.execute(
            f"ATTACH '{_sql_text(tmp_db)}' AS serving (STORAGE_VERSION '{SERVING_STORAGE_VERSION}')"
        )
        con.execute("CREATE SCHEMA serving.marts")
        for table in tables:
            con.execute(f'CREATE TABLE serving.marts."{table}" AS SELECT * FROM working.marts."{table}"')
            counts[table] = con.execute(f'SELECT count(*) FROM serving.marts."{table}"').fetchone()[0]
            target = _sql_text(tmp_parquet / f"{table}.parquet")
            con.execute(f"COPY serving.marts.\"{table}\" TO '{target}' (FORMAT parquet)")
        con.execute("DETACH serving")  # checkpoints: the file is complete, with no WAL beside it
        con.execute("DETACH working")
    finally:
        con.close()
    return counts


def _swap_in(tmp: Path, target: Path) -> None:
    """Make ``tmp`` read-only, flush it and atomically replace ``target`` with it."""
    os.chmod(tmp, PUBLISHED_FILE_MODE)
    _fsync(tmp)
    os.replace(tmp, target)


def publish_marts(working_db: Path, serving_db: Path, parquet_dir: Path) -> dict[str, int]:
    """Copy schema ``marts`` of the working warehouse into a fresh serving file and Parquet.

    Returns the row count of each published table. On any error before the swap, the published
    files stay exactly as they were.
    """
    serving_db.parent.mkdir(parents=True, exist_ok=True)
    parquet_dir.mkdir(parents=True, exist_ok=True)
    tmp_db = serving_db.with_name(f".{serving_db.name}.{os.getpid()}.tmp")
    tmp_parquet = parquet_dir / f".publish-{os.getpid()}"
    with _publish_lock(serving_db.parent):
        _remove_leftovers(serving_db, parquet_dir)
        tmp_parquet.mkdir()
        try:
            counts = _build(working_db, tmp_db, tmp_parquet)
        except BaseException:
            _remove_leftovers(serving_db, parquet_dir)
            raise
        _swap_in(tmp_db, serving_db)
        _fsync(serving_db.parent)
        for table in counts:
            _swap_in(tmp_parquet / f"{table}.parquet", parquet_dir / f"{table}.parquet")
        tmp_parquet.rmdir()
        _fsync(parquet_dir)
    return counts
