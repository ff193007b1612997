"""The load step against the physical limit: DuckDB's own ``read_json`` over the same JSON.

Each measurement runs in a fresh process (``python -m bench.loading_limits WHAT ...``) and
prints one JSON object; ``bench/run_bench.py`` samples the process tree's memory meanwhile.

- ``load_run``: the project's load step alone (``commune_dx.loading.load_run``) over a landing
  folder that a night pulled and validated, into a fresh working warehouse;
- ``read_json``: ``CREATE TABLE … AS SELECT * FROM read_json(…)`` over the same per-unit files
  (a glob) or over the same lines in one file, typed as the raw table's envelope (``payload``
  JSON);
- ``small_tables``: units, tasks and pull outcomes inserted row by row (``executemany``, as the
  load did before it moved to DuckDB) against the same rows inserted set-wise;
- ``native_load``: the project's DuckDB load (its own staging SQL) run by the bench, and
  ``native_load_no_pk``: the same with the two big raw tables created without their PRIMARY
  KEY (the ART index behind it), the key kept by an anti-join;
- ``compare``: whether two warehouses hold the same raw rows.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

READ_JSON_COLUMNS = (
    "{submission_id: 'VARCHAR', unit_code: 'VARCHAR', form: 'VARCHAR', form_version: 'INTEGER', "
    "period: 'VARCHAR', version: 'INTEGER', status: 'VARCHAR', submitted_at: 'TIMESTAMPTZ', "
    "updated_at: 'TIMESTAMPTZ', payload: 'JSON'}"
)
# An RFC 3339 time must carry its offset (the Python load turns the others into NULL).
RFC3339_WITH_OFFSET = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"


def unit_files(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "units").glob("*.jsonl"))


def pull_results_of(run_dir: Path) -> list[dict[str, Any]]:
    """The pull outcomes the load records, rebuilt from the landing files (every unit ok)."""
    results = []
    for path in unit_files(run_dir):
        with path.open(encoding="utf-8") as fh:
            received = sum(1 for line in fh if line.strip())
        results.append(
            {
                "unit_code": path.stem,
                "outcome": "ok",
                "error": None,
                "versions_received": received,
                "seconds": 0.0,
            }
        )
    return results


def concatenate(run_dir: Path, out: Path) -> int:
    """Write every landing line of the run into one file; returns the number of lines."""
    lines = 0
    with out.open("w", encoding="utf-8") as sink:
        for path in unit_files(run_dir):
            with path.open(encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        sink.write(line if line.endswith("\n") else line + "\n")
                        lines += 1
    return lines


def sql_text(value: Path | str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def measure_load_run(run_dir: Path, db: Path) -> dict[str, Any]:
    from commune_dx.loading import load_run

    pulls = pull_results_of(run_dir)
    started = time.perf_counter()
    stats = load_run(db, run_dir, "bench-load", "2025-09-30", pulls)
    return {"seconds": time.perf_counter() - started, "versions": stats["versions_landed"]}


def measure_read_json(source: str, db: Path) -> dict[str, Any]:
    con = duckdb.connect(str(db))
    started = time.perf_counter()
    con.execute(
        "CREATE TABLE submission_versions AS SELECT * FROM "
        f"read_json({sql_text(source)}, format = 'newline_delimited', columns = {READ_JSON_COLUMNS})"
    )
    seconds = time.perf_counter() - started
    versions = con.execute("SELECT count(*) FROM submission_versions").fetchone()[0]
    con.close()
    return {"seconds": seconds, "versions": versions}


def native_load(
    db: Path,
    run_dir: Path,
    run_id: str,
    as_of_date: str,
    pull_results: list[dict[str, Any]],
    primary_keys: bool = True,
) -> dict[str, int]:
    """The project's DuckDB load (its own staging SQL, same tables, idempotence, one
    transaction), optionally without the PRIMARY KEY of the two big raw tables.

    ``primary_keys=False`` creates ``raw.submission_versions`` and ``raw.validation_results``
    without their PRIMARY KEY (DuckDB keeps an ART index for it, costly to insert into and to
    store) and keeps the key with an anti-join on it instead: the load is the only writer."""
    import pandas as pd

    from commune_dx.loading import (
        ADVANCE_WATERMARKS,
        RAW_DDL,
        STAGE_CHECKED,
        STAGE_INCOMING,
        STAGE_LANDED,
        _replace_reference,
        connect_working,
    )

    now = datetime.now(UTC)
    if not primary_keys:
        with duckdb.connect(str(db)) as setup:
            setup.execute(
                RAW_DDL.replace(",\n    PRIMARY KEY (submission_id, version, content_hash)\n", "\n")
            )
    files = unit_files(run_dir)
    con = connect_working(db)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(STAGE_LANDED.format(files="[" + ", ".join(map(sql_text, files)) + "]"))
        con.execute(STAGE_INCOMING)
        con.execute(STAGE_CHECKED.format(validation=sql_text(run_dir / "validation.jsonl")))
        missing = con.execute(
            "SELECT count(*) FROM incoming ANTI JOIN checked USING (content_hash)"
        ).fetchone()[0]
        if missing:
            raise RuntimeError(f"{missing} version(s) have no validation result: rerun validate")
        before = con.execute("SELECT count(*) FROM raw.submission_versions").fetchone()[0]
        new_only = (
            ""
            if primary_keys
            else "WHERE NOT EXISTS (SELECT 1 FROM raw.{table} old WHERE old.submission_id = i.submission_id "
            "AND old.version = i.version AND old.content_hash = i.content_hash) "
        )
        insert = "INSERT OR IGNORE INTO" if primary_keys else "INSERT INTO"
        con.execute(
            f"{insert} raw.submission_versions "
            "SELECT submission_id, version, unit_code, form, form_version, period, status, submitted_at, "
            "updated_at, payload, record, content_hash, ?, ? FROM incoming i "
            + new_only.format(table="submission_versions")
            + "QUALIFY row_number() OVER (PARTITION BY submission_id, version, content_hash) = 1",
            [now, run_id],
        )
        con.execute(
            f"{insert} raw.validation_results "
            "SELECT i.submission_id, i.version, i.content_hash, c.is_valid, c.reasons, ? "
            "FROM incoming i JOIN checked c USING (content_hash) "
            + new_only.format(table="validation_results")
            + "QUALIFY row_number() OVER (PARTITION BY i.submission_id, i.version, i.content_hash) = 1",
            [now],
        )
        after = con.execute("SELECT count(*) FROM raw.submission_versions").fetchone()[0]
        versions = con.execute("SELECT count(*) FROM incoming").fetchone()[0]
        _replace_reference(con, run_dir, now)
        pulls = pd.DataFrame.from_records(
            [
                (run_id, as_of_date, r["unit_code"], r["outcome"], r["error"], r["versions_received"])
                for r in pull_results
            ],
            columns=["run_id", "as_of_date", "unit_code", "outcome", "error", "versions_received"],
        )
        con.register("pulls", pulls)
        con.execute("DELETE FROM raw.unit_pulls WHERE run_id = ?", [run_id])
        con.execute(
            "INSERT INTO raw.unit_pulls SELECT run_id, CAST(as_of_date AS DATE), unit_code, outcome, "
            "error, versions_received, ? FROM pulls",
            [now],
        )
        con.unregister("pulls")
        con.execute(ADVANCE_WATERMARKS, [run_id])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return {"versions_landed": versions, "versions_new": after - before}


def measure_native_load(run_dir: Path, db: Path, primary_keys: bool = True) -> dict[str, Any]:
    pulls = pull_results_of(run_dir)
    started = time.perf_counter()
    stats = native_load(db, run_dir, "bench-load", "2025-09-30", pulls, primary_keys)
    return {"seconds": time.perf_counter() - started, "versions": stats["versions_landed"]}


def measure_small_tables(run_dir: Path, db: Path) -> dict[str, Any]:
    """``load_run``'s row-at-a-time ``executemany`` for units, tasks and pull outcomes, against
    the same rows inserted set-wise (one DataFrame per table)."""
    import pandas as pd

    from commune_dx.loading import connect_working
    from commune_dx.validation import nfc

    now = datetime.now(UTC)
    units = nfc(json.loads((run_dir / "units.json").read_text(encoding="utf-8")))
    tasks = nfc(json.loads((run_dir / "tasks.json").read_text(encoding="utf-8")))
    pulls = pull_results_of(run_dir)
    rows = {
        "units": [
            (
                u["unit_code"],
                u.get("unit_name"),
                u.get("unit_type"),
                u.get("province_code"),
                u.get("population"),
                u.get("active_from"),
                u.get("active_to"),
                now,
            )
            for u in units
        ],
        "tasks": [
            (
                t["task_code"],
                t.get("title"),
                t.get("task_group"),
                t.get("source"),
                t.get("assigned_unit_code"),
                t.get("assigned_on"),
                t.get("deadline"),
                now,
            )
            for t in tasks
        ],
        "unit_pulls": [
            ("bench", "2025-09-30", r["unit_code"], r["outcome"], r["error"], r["versions_received"], now)
            for r in pulls
        ],
    }
    con = connect_working(db)
    timings = {}
    for way in ("executemany", "set_based"):
        con.execute("BEGIN TRANSACTION")
        started = time.perf_counter()
        for table, table_rows in rows.items():
            con.execute(f"DELETE FROM raw.{table}")
            marks = ", ".join("?" * len(table_rows[0]))
            if way == "executemany":
                con.executemany(f"INSERT INTO raw.{table} VALUES ({marks})", table_rows)
            else:
                frame = pd.DataFrame.from_records(table_rows)
                con.register("incoming", frame)
                con.execute(f"INSERT INTO raw.{table} SELECT * FROM incoming")
                con.unregister("incoming")
        timings[f"{way}_seconds"] = time.perf_counter() - started
        con.execute("COMMIT")
    con.close()
    return {**timings, "rows": sum(len(r) for r in rows.values()), "seconds": timings["executemany_seconds"]}


COMPARED_COLUMNS = (
    "submission_id, version, content_hash, unit_code, form, form_version, period, status, "
    "submitted_at, updated_at, json(payload) AS payload, record"
)


def compare(python_db: Path, native_db: Path) -> dict[str, Any]:
    """Rows that differ between the two loads' raw tables (payload compared as minified JSON)."""
    con = duckdb.connect()
    con.execute(f"ATTACH {sql_text(python_db)} AS py (READ_ONLY)")
    con.execute(f"ATTACH {sql_text(native_db)} AS nat (READ_ONLY)")
    differences = {}
    for table, columns in (
        ("submission_versions", COMPARED_COLUMNS),
        ("validation_results", "submission_id, version, content_hash, is_valid, reasons"),
        ("units", "* EXCLUDE (pulled_at)"),
        ("tasks", "* EXCLUDE (pulled_at)"),
        ("watermarks", "*"),
    ):
        differences[table] = con.execute(
            f"SELECT (SELECT count(*) FROM (SELECT {columns} FROM py.raw.{table} "
            f"EXCEPT ALL SELECT {columns} FROM nat.raw.{table})) + "
            f"(SELECT count(*) FROM (SELECT {columns} FROM nat.raw.{table} "
            f"EXCEPT ALL SELECT {columns} FROM py.raw.{table}))"
        ).fetchone()[0]
    con.close()
    return {"differences": differences, "identical": not any(differences.values())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.loading_limits", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "what",
        choices=("load_run", "read_json", "native_load", "native_load_no_pk", "small_tables", "compare"),
    )
    parser.add_argument("--run-dir", type=Path, help="a landing folder (units/, validation.jsonl, …)")
    parser.add_argument("--db", type=Path, help="the DuckDB file to create")
    parser.add_argument("--source", help="read_json: a file or a glob")
    parser.add_argument("--other-db", type=Path, help="compare: the native load's warehouse")
    args = parser.parse_args(argv)
    if args.what == "compare":
        result = compare(args.db, args.other_db)
    else:
        args.db.unlink(missing_ok=True)
        if args.what == "load_run":
            result = measure_load_run(args.run_dir, args.db)
        elif args.what == "native_load":
            result = measure_native_load(args.run_dir, args.db)
        elif args.what == "native_load_no_pk":
            result = measure_native_load(args.run_dir, args.db, primary_keys=False)
        elif args.what == "small_tables":
            result = measure_small_tables(args.run_dir, args.db)
        else:
            result = measure_read_json(args.source, args.db)
        result["db_bytes"] = args.db.stat().st_size
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
