"""Loading a run's landing zone into the raw layer of the working warehouse.

The load is the only writer of the raw tables and runs in one transaction: either the whole
night's pull is in (versions, validation results, pull outcomes, advanced watermarks) or none
of it is. Inserts are idempotent: a version pulled twice (same submission, version and
content) is stored once, and its first validation result is kept.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from commune_dx import landing
from commune_dx.settings import REFERENCE_DIR, duckdb_config
from commune_dx.timestamps import RFC3339_PATTERN

log = logging.getLogger("commune_dx.nightly")

# The two big tables have no PRIMARY KEY: DuckDB would keep an ART index for it, costly to insert
# into and to store. Their key (submission_id, version, content_hash) is kept by the load itself,
# the only writer: it inserts only the rows whose key is not stored yet (an anti-join) and one row
# per key from the night (dbt tests the key too).
RAW_DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE TABLE IF NOT EXISTS raw.submission_versions (
    submission_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    unit_code VARCHAR,
    form VARCHAR,
    form_version INTEGER,
    period VARCHAR,
    status VARCHAR,
    submitted_at TIMESTAMPTZ,
    updated_at TIMESTAMPTZ,
    record VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    pulled_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL
);
CREATE TABLE IF NOT EXISTS raw.validation_results (
    submission_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    content_hash VARCHAR NOT NULL,
    is_valid BOOLEAN NOT NULL,
    reasons VARCHAR,
    checked_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE IF NOT EXISTS raw.units (
    unit_code VARCHAR PRIMARY KEY,
    unit_name VARCHAR,
    unit_type VARCHAR,
    province_code VARCHAR,
    population BIGINT,
    active_from DATE,
    active_to DATE,
    pulled_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS raw.tasks (
    task_code VARCHAR PRIMARY KEY,
    title VARCHAR,
    task_group VARCHAR,
    source VARCHAR,
    assigned_unit_code VARCHAR,
    assigned_on DATE,
    deadline DATE,
    pulled_at TIMESTAMPTZ,
    phase INTEGER
);
-- contract 1.1: a warehouse created before it gains the column (NULL = no phase)
ALTER TABLE raw.tasks ADD COLUMN IF NOT EXISTS phase INTEGER;
CREATE TABLE IF NOT EXISTS raw.reference_communes (
    province_code VARCHAR,
    province_name VARCHAR,
    commune_code VARCHAR PRIMARY KEY,
    commune_name VARCHAR,
    commune_type VARCHAR,
    full_name VARCHAR,
    name_en VARCHAR,
    area_km2 DOUBLE,
    population BIGINT,
    lat DOUBLE,
    lon DOUBLE
);
CREATE TABLE IF NOT EXISTS raw.unit_pulls (
    run_id VARCHAR NOT NULL,
    as_of_date DATE NOT NULL,
    unit_code VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,
    error VARCHAR,
    versions_received INTEGER,
    finished_at TIMESTAMPTZ,
    PRIMARY KEY (run_id, unit_code)
);
ALTER TABLE raw.unit_pulls ADD COLUMN IF NOT EXISTS note VARCHAR;
CREATE TABLE IF NOT EXISTS raw.watermarks (
    unit_code VARCHAR PRIMARY KEY,
    updated_at TIMESTAMPTZ NOT NULL,
    submission_id VARCHAR NOT NULL
);
"""


def connect_working(path: Path) -> duckdb.DuckDBPyConnection:
    """Open the working warehouse (the pipeline's single writer) with the raw schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), config=duckdb_config())
    con.execute("SET TimeZone = 'Asia/Ho_Chi_Minh'")
    con.execute(RAW_DDL)
    return con


def _query_raw(
    path: Path, table: str, sql: str, params: list[Any] | None = None
) -> list[tuple] | None:
    """Rows of ``sql`` over the working warehouse, read-only; None before ``raw.<table>`` exists."""
    if not path.exists():
        return None
    con = duckdb.connect(str(path), read_only=True)
    try:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'raw' AND table_name = ?",
            [table],
        ).fetchone()[0]
        return con.execute(sql, params or []).fetchall() if exists else None
    finally:
        con.close()


def read_watermarks(path: Path) -> dict[str, tuple[str, str]]:
    """Each unit's watermark (updated_at ISO text, submission_id); empty before the first load."""
    rows = _query_raw(
        path,
        "watermarks",
        "SELECT unit_code, strftime(updated_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%f+00:00'),"
        " submission_id FROM raw.watermarks",
    )
    return {code: (ts, sid) for code, ts, sid in rows or []}


def read_unit_codes(path: Path) -> set[str]:
    """The unit codes of the last loaded ``/units`` snapshot; empty before the first load."""
    rows = _query_raw(path, "units", "SELECT unit_code FROM raw.units")
    return {code for (code,) in rows or []}


def stored_content_hashes(path: Path, hashes: Iterable[str]) -> set[str]:
    """Those of ``hashes`` already stored in ``raw.submission_versions``; empty before the
    first load.

    A stored version got its verdict the night it was stored, and the load never stores a
    second one for it, so the validate step need not check it again. The content hash is the
    sha256 of the whole record, so the same hash means the same submission, version and payload.
    """
    wanted = sorted(set(hashes))
    if not wanted:
        return set()
    # One text parameter (DuckDB binds a long list parameter item by item), and the answer is
    # the hashes not stored, usually the fewer.
    rows = _query_raw(
        path,
        "submission_versions",
        "SELECT h FROM (SELECT unnest(string_split(?, ',')) AS h) w "
        "WHERE NOT EXISTS (SELECT 1 FROM raw.submission_versions s WHERE s.content_hash = w.h)",
        [",".join(wanted)],
    )
    if rows is None:
        return set()  # no warehouse or no raw table yet: nothing is stored
    return set(wanted).difference(row[0] for row in rows)


def _load_reference_communes(con: duckdb.DuckDBPyConnection) -> None:
    """Replace raw.reference_communes with the bundled CSV (codes as text, names in NFC)."""
    path = str(REFERENCE_DIR / "vn_communes_2025.csv").replace("'", "''")
    con.execute("DELETE FROM raw.reference_communes")
    con.execute(
        f"""
        INSERT INTO raw.reference_communes
        SELECT province_code, nfc_normalize(province_name), commune_code,
               nfc_normalize(commune_name), commune_type, nfc_normalize(full_name), name_en,
               TRY_CAST(area_km2 AS DOUBLE), TRY_CAST(population AS BIGINT),
               TRY_CAST(lat AS DOUBLE), TRY_CAST(lon AS DOUBLE)
        FROM read_csv('{path}', all_varchar = true, header = true)
        """
    )


# A time that breaks the one RFC 3339 check (timestamps.py) is stored as NULL; validation
# quarantines its version for the same reason.

# The night's landing lines: each kept verbatim as `record` with its sha256 (`content_hash`, from
# the validate step's line map), the envelope parsed once per record (list extraction) and
# NFC-normalised by DuckDB. The payload is stored once, inside `record`: staging extracts and
# normalises it (a second, parsed copy was a fifth of the load's time and of its size).
PARSED_LANDING = f"""
WITH split AS (
    SELECT parse_filename(filename, true) AS unit_file, string_split(content, chr(10)) AS parts
    FROM read_text(__FILES__)
), lines AS (
    SELECT unit_file, unnest(generate_series(1, len(parts))) AS line_no, unnest(parts) AS record
    FROM split
), line_map AS (
    -- The sha256 the validate step computed for each landed line, and whether the line is the
    -- first with its content (one row per key: a version landed twice is stored once).
    SELECT unit_file, line_no, content_hash, chars,
           row_number() OVER (PARTITION BY content_hash ORDER BY unit_file, line_no) = 1 AS is_first
    FROM read_csv(__LINE_MAP__, header = true, auto_detect = false,
                  columns = {{'unit_file': 'VARCHAR', 'line_no': 'BIGINT',
                              'content_hash': 'VARCHAR', 'chars': 'BIGINT'}})
), landed AS (
    -- A line the validate step did not see, or whose length changed since, stops the load
    -- (and rolls it back). Blank lines are skipped.
    SELECT record, m.content_hash
    FROM lines LEFT JOIN line_map m USING (unit_file, line_no)
    WHERE CASE WHEN trim(record) = '' THEN false
               WHEN m.chars = length(record) THEN m.is_first
               ELSE error('landing file ' || unit_file || '.jsonl line ' || line_no
                          || ' has no validation result or changed after validation: '
                          || 'rerun the night (validate must run before load)') END
), parsed AS (
    SELECT record, content_hash,
           json_extract_string(record, ['$.submission_id', '$.unit_code', '$.form', '$.period',
                                        '$.status', '$.submitted_at', '$.updated_at']) AS s,
           json_extract(record, ['$.version', '$.form_version']) AS j
    FROM landed
)
SELECT
    coalesce(nfc_normalize(s[1]), 'None') AS submission_id,
    CASE WHEN json_type(j[1]) IN ('BIGINT', 'UBIGINT')
         THEN TRY_CAST(CAST(j[1] AS VARCHAR) AS INTEGER) ELSE -1 END AS version,
    nfc_normalize(s[2]) AS unit_code,
    nfc_normalize(s[3]) AS form,
    CASE WHEN json_type(j[2]) IN ('BIGINT', 'UBIGINT')
         THEN TRY_CAST(CAST(j[2] AS VARCHAR) AS INTEGER) END AS form_version,
    nfc_normalize(s[4]) AS period,
    nfc_normalize(s[5]) AS status,
    CASE WHEN regexp_matches(s[6], '{RFC3339_PATTERN}') THEN TRY_CAST(upper(s[6]) AS TIMESTAMPTZ) END
        AS submitted_at,
    CASE WHEN regexp_matches(s[7], '{RFC3339_PATTERN}') THEN TRY_CAST(upper(s[7]) AS TIMESTAMPTZ) END
        AS updated_at,
    record,
    content_hash
FROM parsed
"""
STAGE_CHECKED = """
CREATE TEMP TABLE checked AS
SELECT content_hash, any_value(is_valid) AS is_valid,
       nullif(array_to_string(any_value(reasons), '; '), '') AS reasons
FROM read_json({validation}, format = 'newline_delimited',
               columns = {{content_hash: 'VARCHAR', is_valid: 'BOOLEAN', reasons: 'VARCHAR[]'}})
GROUP BY content_hash
"""
# The night's new versions, straight from the landing files (no staging copy: materialising
# one cost more than the parse). Only keys not stored yet; one row per content hash (the same
# record text, so the same key), chosen on the narrow line map: a window over the records
# themselves kept the insert from streaming. INSERT returns the count.
INSERT_NEW_VERSIONS = f"""
INSERT INTO raw.submission_versions (
    submission_id, version, unit_code, form, form_version, period, status, submitted_at,
    updated_at, record, content_hash, pulled_at, run_id)
SELECT i.submission_id, i.version, i.unit_code, i.form, i.form_version, i.period, i.status,
       i.submitted_at, i.updated_at, i.record, i.content_hash, ?, ?
FROM ({PARSED_LANDING}) i
WHERE NOT EXISTS (
    SELECT 1 FROM raw.submission_versions s
    WHERE s.content_hash = i.content_hash AND s.submission_id = i.submission_id
      AND s.version = i.version)
"""
# Versions stored by this transaction (pulled_at = its time) without a validation result.
UNCHECKED = """
SELECT count(*) FROM raw.submission_versions s
WHERE s.pulled_at = ? AND s.content_hash NOT IN (SELECT content_hash FROM checked)
"""
# Their validation results (a version stored earlier kept its first result).
INSERT_NEW_RESULTS = """
INSERT INTO raw.validation_results
SELECT s.submission_id, s.version, s.content_hash, c.is_valid, c.reasons, ?
FROM raw.submission_versions s JOIN checked c USING (content_hash)
WHERE s.pulled_at = ?
  AND NOT EXISTS (
    SELECT 1 FROM raw.validation_results v
    WHERE v.content_hash = s.content_hash AND v.submission_id = s.submission_id
      AND v.version = s.version)
"""
# Each unit's watermark comes from its own listing (the pull's result, which never passes the
# portal's clock at the start of the pull), and only moves forward.
ADVANCE_WATERMARKS = """
INSERT INTO raw.watermarks
SELECT unit_code, CAST(watermark_at AS TIMESTAMPTZ), watermark_id FROM pulls
WHERE watermark_at IS NOT NULL
ON CONFLICT (unit_code) DO UPDATE SET
    updated_at = excluded.updated_at, submission_id = excluded.submission_id
WHERE excluded.updated_at > raw.watermarks.updated_at
   OR (excluded.updated_at = raw.watermarks.updated_at
       AND excluded.submission_id > raw.watermarks.submission_id)
"""


def _sql_text(value: Path | str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def load_run(
    working_db: Path,
    run_dir: Path,
    run_id: str,
    as_of_date: str,
    pull_results: list[dict[str, Any]],
    commit_delay_seconds: float = 0.0,
) -> dict[str, int]:
    """Load one run's landing zone into the raw layer, atomically and idempotently.

    DuckDB reads the landing files itself (records verbatim, each with the sha256 the validate
    step recorded in the line map, envelope parsed and NFC-normalised in SQL); the validation
    results join on the content hash. Watermarks advance
    only over versions stored by this same transaction. ``commit_delay_seconds`` holds the
    transaction open before COMMIT (crash tests only).
    """
    now = datetime.now(UTC)
    files = landing.unit_files(run_dir)
    con = connect_working(working_db)
    # Row order inside a table carries no meaning here; letting DuckDB drop it parallelises the
    # staging.
    con.execute("SET preserve_insertion_order = false")
    try:
        con.execute("BEGIN TRANSACTION")
        con.execute(STAGE_CHECKED.format(validation=_sql_text(run_dir / landing.VALIDATION)))
        new = 0
        if files:
            file_list = "[" + ", ".join(map(_sql_text, files)) + "]"
            insert = INSERT_NEW_VERSIONS.replace("__FILES__", file_list).replace(
                "__LINE_MAP__", _sql_text(run_dir / landing.LINE_MAP)
            )
            new = con.execute(insert, [now, run_id]).fetchone()[0]
        unchecked = con.execute(UNCHECKED, [now]).fetchone()[0]
        if unchecked:
            raise RuntimeError(
                f"{unchecked} landed version(s) have no validation result in "
                f"{run_dir / landing.VALIDATION}: rerun the night (validate must run before load)"
            )
        con.execute(INSERT_NEW_RESULTS, [now, now])
        versions = sum(int(r["versions_received"] or 0) for r in pull_results)
        _replace_reference(con, run_dir, now)
        con.execute("DELETE FROM raw.unit_pulls WHERE run_id = ?", [run_id])
        import pandas as pd  # here, not at module top: the other tasks import this module

        pulls = pd.DataFrame.from_records(
            [(run_id, as_of_date, r["unit_code"], r["outcome"], r["error"], r["versions_received"],
              r.get("note"), *(r.get("watermark") or (None, None))) for r in pull_results],
            columns=["run_id", "as_of_date", "unit_code", "outcome", "error", "versions_received",
                     "note", "watermark_at", "watermark_id"],
        )
        con.register("pulls", pulls)
        con.execute(
            "INSERT INTO raw.unit_pulls (run_id, as_of_date, unit_code, outcome, error, "
            "versions_received, finished_at, note) SELECT run_id, CAST(as_of_date AS DATE), "
            "unit_code, outcome, error, versions_received, ?, note FROM pulls",
            [now],
        )
        con.execute(ADVANCE_WATERMARKS)
        con.unregister("pulls")
        log.info("load: %d versions staged in one transaction; committing", versions)
        if commit_delay_seconds:
            time.sleep(commit_delay_seconds)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return {"versions_landed": versions, "versions_new": new}


def _replace_reference(con: duckdb.DuckDBPyConnection, run_dir: Path, now: datetime) -> None:
    """Replace the units and tasks snapshots with this run's, and the reference communes."""
    con.execute("DELETE FROM raw.units")
    con.execute(
        "INSERT INTO raw.units SELECT nfc_normalize(unit_code), nfc_normalize(unit_name), "
        "nfc_normalize(unit_type), nfc_normalize(province_code), population, active_from, active_to, ? "
        f"FROM read_json({_sql_text(run_dir / landing.UNITS_SNAPSHOT)}, columns = {{unit_code: 'VARCHAR', "
        "unit_name: 'VARCHAR', unit_type: 'VARCHAR', province_code: 'VARCHAR', population: 'BIGINT', "
        "active_from: 'DATE', active_to: 'DATE'})",
        [now],
    )
    con.execute("DELETE FROM raw.tasks")
    con.execute(
        "INSERT INTO raw.tasks (task_code, title, task_group, source, assigned_unit_code, assigned_on, "
        "deadline, pulled_at, phase) SELECT nfc_normalize(task_code), nfc_normalize(title), "
        "nfc_normalize(task_group), nfc_normalize(source), nfc_normalize(assigned_unit_code), "
        "assigned_on, deadline, ?, phase "
        f"FROM read_json({_sql_text(run_dir / landing.TASKS_SNAPSHOT)}, columns = {{task_code: 'VARCHAR', "
        "title: 'VARCHAR', task_group: 'VARCHAR', source: 'VARCHAR', assigned_unit_code: 'VARCHAR', "
        "assigned_on: 'DATE', deadline: 'DATE', phase: 'INTEGER'})",
        [now],
    )
    _load_reference_communes(con)
