"""The load step against the physical limit: DuckDB's own ``read_json`` over the same JSON.

Each measurement runs in a fresh process (``python -m bench.loading_limits WHAT ...``) and
prints one JSON object; ``bench/run_bench.py`` samples the process tree's memory meanwhile.

- ``load_run``: the project's load step alone (``commune_dx.loading.load_run``) over a landing
  folder that a night pulled and validated, into a fresh working warehouse;
- ``read_json``: ``CREATE TABLE … AS SELECT * FROM read_json(…)`` over the same per-unit files,
  or over the same lines in one file (``--one-file``), typed as the raw table's envelope
  (``payload`` JSON);
- ``native_load``: a prototype of the load done by DuckDB itself (records read as text,
  hashed, parsed and NFC-normalised in SQL, no pandas), writing the same raw tables as
  ``load_run``; ``compare`` checks that both warehouses hold the same rows.
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
        results.append({"unit_code": path.stem, "outcome": "ok", "error": None,
                        "versions_received": received, "seconds": 0.0})
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


NATIVE_LANDED = """
CREATE TEMP TABLE landed AS
SELECT record, sha256(record) AS content_hash
FROM (SELECT unnest(string_split(content, chr(10))) AS record FROM read_text({units}))
WHERE trim(record) <> ''
"""
NATIVE_INCOMING = f"""
CREATE TEMP TABLE incoming AS
SELECT
    coalesce(nfc_normalize(record ->> '$.submission_id'), 'None') AS submission_id,
    CASE WHEN json_type(record, '$.version') IN ('BIGINT', 'UBIGINT')
         THEN TRY_CAST(record ->> '$.version' AS INTEGER) ELSE -1 END AS version,
    nfc_normalize(record ->> '$.unit_code') AS unit_code,
    nfc_normalize(record ->> '$.form') AS form,
    CASE WHEN json_type(record, '$.form_version') IN ('BIGINT', 'UBIGINT')
         THEN TRY_CAST(record ->> '$.form_version' AS INTEGER) END AS form_version,
    nfc_normalize(record ->> '$.period') AS period,
    nfc_normalize(record ->> '$.status') AS status,
    CASE WHEN regexp_matches(record ->> '$.submitted_at', '{RFC3339_WITH_OFFSET}')
         THEN TRY_CAST(record ->> '$.submitted_at' AS TIMESTAMPTZ) END AS submitted_at,
    CASE WHEN regexp_matches(record ->> '$.updated_at', '{RFC3339_WITH_OFFSET}')
         THEN TRY_CAST(record ->> '$.updated_at' AS TIMESTAMPTZ) END AS updated_at,
    CAST(nfc_normalize(CAST(coalesce(json_extract(record, '$.payload'), 'null') AS VARCHAR)) AS JSON)
        AS payload,
    record,
    content_hash
FROM landed
"""
NATIVE_CHECKED = """
CREATE TEMP TABLE checked AS
SELECT key, is_valid, nullif(array_to_string(reasons, '; '), '') AS reasons
FROM read_json({validation}, format = 'newline_delimited',
               columns = {{key: 'VARCHAR', is_valid: 'BOOLEAN', reasons: 'VARCHAR[]'}})
"""


def native_load(db: Path, run_dir: Path, run_id: str, as_of_date: str,
                pull_results: list[dict[str, Any]]) -> dict[str, int]:
    """The prototype: ``load_run``'s contract (same tables, keys, idempotence, one transaction),
    with the per-version work done by DuckDB instead of Python and pandas."""
    import pandas as pd

    from commune_dx.loading import _load_reference_communes, connect_working

    now = datetime.now(UTC)
    con = connect_working(db)
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(NATIVE_LANDED.format(units=sql_text(run_dir / "units" / "*.jsonl")))
        con.execute(NATIVE_INCOMING)
        con.execute(NATIVE_CHECKED.format(validation=sql_text(run_dir / "validation.jsonl")))
        missing = con.execute(
            "SELECT count(*) FROM incoming i ANTI JOIN checked c "
            "ON c.key = i.submission_id || '|' || (i.record ->> '$.version') || '|' || i.content_hash"
        ).fetchone()[0]
        if missing:
            raise RuntimeError(f"{missing} version(s) have no validation result: rerun validate")
        before = con.execute("SELECT count(*) FROM raw.submission_versions").fetchone()[0]
        con.execute(
            "INSERT OR IGNORE INTO raw.submission_versions "
            "SELECT submission_id, version, unit_code, form, form_version, period, status, submitted_at, "
            "updated_at, payload, record, content_hash, ?, ? FROM incoming "
            "QUALIFY row_number() OVER (PARTITION BY submission_id, version, content_hash) = 1",
            [now, run_id],
        )
        con.execute(
            "INSERT OR IGNORE INTO raw.validation_results "
            "SELECT i.submission_id, i.version, i.content_hash, c.is_valid, c.reasons, ? "
            "FROM incoming i JOIN checked c "
            "ON c.key = i.submission_id || '|' || (i.record ->> '$.version') || '|' || i.content_hash "
            "QUALIFY row_number() OVER (PARTITION BY i.submission_id, i.version, i.content_hash) = 1",
            [now],
        )
        after = con.execute("SELECT count(*) FROM raw.submission_versions").fetchone()[0]
        versions = con.execute("SELECT count(*) FROM incoming").fetchone()[0]
        con.execute("DELETE FROM raw.units")
        con.execute(
            "INSERT INTO raw.units SELECT nfc_normalize(unit_code), nfc_normalize(unit_name), "
            "nfc_normalize(unit_type), nfc_normalize(province_code), population, active_from, active_to, ? "
            f"FROM read_json({sql_text(run_dir / 'units.json')}, columns = {{unit_code: 'VARCHAR', "
            "unit_name: 'VARCHAR', unit_type: 'VARCHAR', province_code: 'VARCHAR', population: 'BIGINT', "
            "active_from: 'DATE', active_to: 'DATE'})",
            [now],
        )
        con.execute("DELETE FROM raw.tasks")
        con.execute(
            "INSERT INTO raw.tasks SELECT nfc_normalize(task_code), nfc_normalize(title), "
            "nfc_normalize(task_group), nfc_normalize(source), nfc_normalize(assigned_unit_code), "
            "assigned_on, deadline, ? "
            f"FROM read_json({sql_text(run_dir / 'tasks.json')}, columns = {{task_code: 'VARCHAR', "
            "title: 'VARCHAR', task_group: 'VARCHAR', source: 'VARCHAR', assigned_unit_code: 'VARCHAR', "
            "assigned_on: 'DATE', deadline: 'DATE'})",
            [now],
        )
        _load_reference_communes(con)
        pulls = pd.DataFrame.from_records(
            [(run_id, as_of_date, r["unit_code"], r["outcome"], r["error"], r["versions_received"])
             for r in pull_results],
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
        con.execute(
            """
            INSERT INTO raw.watermarks
            SELECT unit_code, updated_at, submission_id FROM (
                SELECT unit_code, updated_at, submission_id,
                       row_number() OVER (PARTITION BY unit_code
                                          ORDER BY updated_at DESC, submission_id DESC) AS rn
                FROM raw.submission_versions
                WHERE run_id = ? AND updated_at IS NOT NULL AND unit_code IS NOT NULL
            ) WHERE rn = 1
            ON CONFLICT (unit_code) DO UPDATE SET
                updated_at = excluded.updated_at, submission_id = excluded.submission_id
            WHERE excluded.updated_at > raw.watermarks.updated_at
               OR (excluded.updated_at = raw.watermarks.updated_at
                   AND excluded.submission_id > raw.watermarks.submission_id)
            """,
            [run_id],
        )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return {"versions_landed": versions, "versions_new": after - before}


def measure_native_load(run_dir: Path, db: Path) -> dict[str, Any]:
    pulls = pull_results_of(run_dir)
    started = time.perf_counter()
    stats = native_load(db, run_dir, "bench-load", "2025-09-30", pulls)
    return {"seconds": time.perf_counter() - started, "versions": stats["versions_landed"]}


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
    parser = argparse.ArgumentParser(prog="python -m bench.loading_limits", description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("load_run", "read_json", "native_load", "compare"))
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
        else:
            result = measure_read_json(args.source, args.db)
        result["db_bytes"] = args.db.stat().st_size
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
