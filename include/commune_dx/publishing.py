"""Publishing the marts: a new ``serving.duckdb`` swapped in atomically, plus Parquet copies.

Readers (analysts, BI tools) only ever open the published file. It is built beside the old one
under a temporary name and moved over it with ``os.replace``: a reader that has the old file
open keeps reading the old state; the next one opens the new state; nobody sees a mix, and no
reader can block the pipeline's writer. The file is written in a storage format that DuckDB
1.x readers (as bundled in BI drivers) can open.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

from commune_dx.settings import MART_TABLES

# Readable by every DuckDB from 1.0 on; raise deliberately if a newer storage feature is needed.
SERVING_STORAGE_VERSION = "v1.0.0"


def _sql_text(path: Path) -> str:
    return str(path).replace("'", "''")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish_marts(working_db: Path, serving_db: Path, parquet_dir: Path) -> dict[str, int]:
    """Copy schema ``marts`` of the working warehouse into a fresh serving file and Parquet.

    Returns the row count of each published table.
    """
    serving_db.parent.mkdir(parents=True, exist_ok=True)
    parquet_dir.mkdir(parents=True, exist_ok=True)
    tmp_db = serving_db.with_name(f".{serving_db.name}.{os.getpid()}.tmp")
    tmp_parquet = parquet_dir / f".publish-{os.getpid()}"
    tmp_db.unlink(missing_ok=True)
    tmp_parquet.mkdir(exist_ok=True)
    counts: dict[str, int] = {}
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{_sql_text(working_db)}' AS working (READ_ONLY)")
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
        tables = sorted(available)
        con.execute(
            f"ATTACH '{_sql_text(tmp_db)}' AS serving (STORAGE_VERSION '{SERVING_STORAGE_VERSION}')"
        )
        con.execute("CREATE SCHEMA serving.marts")
        for table in tables:
            con.execute(f'CREATE TABLE serving.marts."{table}" AS SELECT * FROM working.marts."{table}"')
            counts[table] = con.execute(f'SELECT count(*) FROM serving.marts."{table}"').fetchone()[0]
            target = _sql_text(tmp_parquet / f"{table}.parquet")
            con.execute(f"COPY serving.marts.\"{table}\" TO '{target}' (FORMAT parquet)")
        con.execute("DETACH serving")
        con.execute("DETACH working")
    finally:
        con.close()
    _fsync(tmp_db)
    os.replace(tmp_db, serving_db)
    for table in tables:
        os.replace(tmp_parquet / f"{table}.parquet", parquet_dir / f"{table}.parquet")
    tmp_parquet.rmdir()
    return counts
