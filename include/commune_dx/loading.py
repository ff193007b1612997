"""Loading a run's landing zone into the raw layer of the working warehouse.

The load is the only writer of the raw tables and runs in one transaction: either the whole
night's pull is in (versions, validation results, pull outcomes, advanced watermarks) or none
of it is. Inserts are idempotent: a version pulled twice (same submission, version and
content) is stored once, and its first validation result is kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from commune_dx.pulling import landing_units_dir
from commune_dx.settings import REFERENCE_DIR
from commune_dx.validation import nfc

log = logging.getLogger("commune_dx.nightly")

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
    payload JSON,
    record VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL,
    pulled_at TIMESTAMPTZ NOT NULL,
    run_id VARCHAR NOT NULL,
    PRIMARY KEY (submission_id, version, content_hash)
);
CREATE TABLE IF NOT EXISTS raw.validation_results (
    submission_id VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    content_hash VARCHAR NOT NULL,
    is_valid BOOLEAN NOT NULL,
    reasons VARCHAR,
    checked_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (submission_id, version, content_hash)
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
    pulled_at TIMESTAMPTZ
);
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
CREATE TABLE IF NOT EXISTS raw.watermarks (
    unit_code VARCHAR PRIMARY KEY,
    updated_at TIMESTAMPTZ NOT NULL,
    submission_id VARCHAR NOT NULL
);
"""


@dataclass
class LandedVersion:
    """One line of a landing file: the record as received and its parsed, NFC-normalised item."""

    unit_file: str
    record: str
    content_hash: str
    item: dict[str, Any]

    @property
    def key(self) -> str:
        """Its identity for validation: the content hash (same content, same verdict)."""
        return self.content_hash


def content_hash(record: str) -> str:
    return hashlib.sha256(record.encode("utf-8")).hexdigest()


def iter_landed_versions(run_dir: Path) -> Iterator[LandedVersion]:
    """Every version in a run's landing files, in file order."""
    for path in sorted(landing_units_dir(run_dir).glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                record = line.rstrip("\n")
                if not record:
                    continue
                item = nfc(json.loads(record))
                yield LandedVersion(path.stem, record, content_hash(record), item)


def connect_working(path: Path) -> duckdb.DuckDBPyConnection:
    """Open the working warehouse (the pipeline's single writer) with the raw schema."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    con.execute("SET TimeZone = 'Asia/Ho_Chi_Minh'")
    con.execute(RAW_DDL)
    return con


def read_watermarks(path: Path) -> dict[str, tuple[str, str]]:
    """Each unit's watermark (updated_at ISO text, submission_id); empty before the first load."""
    if not path.exists():
        return {}
    con = duckdb.connect(str(path), read_only=True)
    try:
        exists = con.execute(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = 'raw' AND table_name = 'watermarks'"
        ).fetchone()[0]
        if not exists:
            return {}
        rows = con.execute(
            "SELECT unit_code, strftime(updated_at AT TIME ZONE 'UTC', '%Y-%m-%dT%H:%M:%S.%f+00:00'),"
            " submission_id FROM raw.watermarks"
        ).fetchall()
    finally:
        con.close()
    return {code: (ts, sid) for code, ts, sid in rows}


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


# An RFC 3339 time must carry its offset; anything else is stored as NULL (and is invalid).
RFC3339_WITH_OFFSET = r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$"

# The night's landing lines, each kept verbatim as `record` with its sha256 (`content_hash`).
STAGE_LANDED = """
CREATE TEMP TABLE landed AS
SELECT record, sha256(record) AS content_hash
FROM (SELECT unnest(string_split(content, chr(10))) AS record FROM read_text({files}))
WHERE trim(record) <> ''
"""
# The envelope parsed and NFC-normalised by DuckDB (text stays verbatim in `record`).
STAGE_INCOMING = f"""
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
STAGE_CHECKED = """
CREATE TEMP TABLE checked AS
SELECT content_hash, any_value(is_valid) AS is_valid,
       nullif(array_to_string(any_value(reasons), '; '), '') AS reasons
FROM read_json({validation}, format = 'newline_delimited',
               columns = {{content_hash: 'VARCHAR', is_valid: 'BOOLEAN', reasons: 'VARCHAR[]'}})
GROUP BY content_hash
"""
ADVANCE_WATERMARKS = """
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

    DuckDB reads the landing files itself (records verbatim, hashed, envelope parsed and
    NFC-normalised in SQL); the validation results join on the content hash. Watermarks advance
    only over versions stored by this same transaction. ``commit_delay_seconds`` holds the
    transaction open before COMMIT (crash tests only).
    """
    now = datetime.now(UTC)
    files = sorted(landing_units_dir(run_dir).glob("*.jsonl"))
    con = connect_working(working_db)
    try:
        con.execute("BEGIN TRANSACTION")
        if files:
            con.execute(STAGE_LANDED.format(files="[" + ", ".join(map(_sql_text, files)) + "]"))
        else:
            con.execute("CREATE TEMP TABLE landed (record VARCHAR, content_hash VARCHAR)")
        con.execute(STAGE_INCOMING)
        con.execute(STAGE_CHECKED.format(validation=_sql_text(run_dir / "validation.jsonl")))
        unchecked = con.execute(
            "SELECT count(*) FROM incoming i ANTI JOIN checked c USING (content_hash)"
        ).fetchone()[0]
        if unchecked:
            raise RuntimeError(
                f"{unchecked} landed version(s) have no validation result in "
                f"{run_dir / 'validation.jsonl'}: rerun the night (validate must run before load)"
            )
        before = con.execute("SELECT count(*) FROM raw.submission_versions").fetchone()[0]
        con.execute(
            "INSERT OR IGNORE INTO raw.submission_versions "
            "SELECT submission_id, version, unit_code, form, form_version, period, status, "
            "submitted_at, updated_at, payload, record, content_hash, ?, ? FROM incoming "
            "QUALIFY row_number() OVER (PARTITION BY submission_id, version, content_hash) = 1",
            [now, run_id],
        )
        con.execute(
            "INSERT OR IGNORE INTO raw.validation_results "
            "SELECT i.submission_id, i.version, i.content_hash, c.is_valid, c.reasons, ? "
            "FROM incoming i JOIN checked c USING (content_hash) "
            "QUALIFY row_number() OVER (PARTITION BY i.submission_id, i.version, i.content_hash) = 1",
            [now],
        )
        after = con.execute("SELECT count(*) FROM raw.submission_versions").fetchone()[0]
        versions = con.execute("SELECT count(*) FROM incoming").fetchone()[0]
        _replace_reference(con, run_dir, now)
        con.execute("DELETE FROM raw.unit_pulls WHERE run_id = ?", [run_id])
        import pandas as pd  # here, not at module top: the other tasks import this module

        pulls = pd.DataFrame.from_records(
            [(run_id, as_of_date, r["unit_code"], r["outcome"], r["error"], r["versions_received"])
             for r in pull_results],
            columns=["run_id", "as_of_date", "unit_code", "outcome", "error", "versions_received"],
        )
        con.register("pulls", pulls)
        con.execute(
            "INSERT INTO raw.unit_pulls SELECT run_id, CAST(as_of_date AS DATE), unit_code, outcome, "
            "error, versions_received, ? FROM pulls",
            [now],
        )
        con.unregister("pulls")
        con.execute(ADVANCE_WATERMARKS, [run_id])
        log.info("load: %d versions staged in one transaction; committing", versions)
        if commit_delay_seconds:
            time.sleep(commit_delay_seconds)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return {"versions_landed": versions, "versions_new": after - before}


def _replace_reference(con: duckdb.DuckDBPyConnection, run_dir: Path, now: datetime) -> None:
    """Replace the units and tasks snapshots with this run's, and the reference communes."""
    con.execute("DELETE FROM raw.units")
    con.execute(
        "INSERT INTO raw.units SELECT nfc_normalize(unit_code), nfc_normalize(unit_name), "
        "nfc_normalize(unit_type), nfc_normalize(province_code), population, active_from, active_to, ? "
        f"FROM read_json({_sql_text(run_dir / 'units.json')}, columns = {{unit_code: 'VARCHAR', "
        "unit_name: 'VARCHAR', unit_type: 'VARCHAR', province_code: 'VARCHAR', population: 'BIGINT', "
        "active_from: 'DATE', active_to: 'DATE'})",
        [now],
    )
    con.execute("DELETE FROM raw.tasks")
    con.execute(
        "INSERT INTO raw.tasks SELECT nfc_normalize(task_code), nfc_normalize(title), "
        "nfc_normalize(task_group), nfc_normalize(source), nfc_normalize(assigned_unit_code), "
        "assigned_on, deadline, ? "
        f"FROM read_json({_sql_text(run_dir / 'tasks.json')}, columns = {{task_code: 'VARCHAR', "
        "title: 'VARCHAR', task_group: 'VARCHAR', source: 'VARCHAR', assigned_unit_code: 'VARCHAR', "
        "assigned_on: 'DATE', deadline: 'DATE'})",
        [now],
    )
    _load_reference_communes(con)
