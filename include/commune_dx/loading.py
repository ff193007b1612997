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
        return f"{self.item.get('submission_id')}|{self.item.get('version')}|{self.content_hash}"


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


def load_run(
    working_db: Path,
    run_dir: Path,
    run_id: str,
    as_of_date: str,
    pull_results: list[dict[str, Any]],
    commit_delay_seconds: float = 0.0,
) -> dict[str, int]:
    """Load one run's landing zone into the raw layer, atomically and idempotently.

    ``commit_delay_seconds`` holds the transaction open before COMMIT (crash tests only).
    """
    now = datetime.now(UTC)
    units = nfc(json.loads((run_dir / "units.json").read_text(encoding="utf-8")))
    tasks = nfc(json.loads((run_dir / "tasks.json").read_text(encoding="utf-8")))
    validation = {}
    validation_path = run_dir / "validation.jsonl"
    with validation_path.open(encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            validation[row["key"]] = row

    version_rows = []
    result_rows = []
    for landed in iter_landed_versions(run_dir):
        item = landed.item
        sid = str(item.get("submission_id"))
        version = item.get("version") if isinstance(item.get("version"), int) else -1
        form_version = item.get("form_version") if isinstance(item.get("form_version"), int) else None
        version_rows.append(
            (
                sid, version, item.get("unit_code"), item.get("form"), form_version,
                item.get("period"), item.get("status"), _time_or_none(item.get("submitted_at")),
                _time_or_none(item.get("updated_at")),
                json.dumps(item.get("payload"), ensure_ascii=False),
                landed.record, landed.content_hash, now, run_id,
            )
        )
        outcome = validation.get(landed.key)
        if outcome is None:
            raise RuntimeError(
                f"version {landed.key} has no validation result in {validation_path}: "
                "rerun the night (validate must run before load)"
            )
        result_rows.append(
            (sid, version, landed.content_hash, outcome["is_valid"],
             "; ".join(outcome["reasons"]) or None, now)
        )

    con = connect_working(working_db)
    try:
        con.execute("BEGIN TRANSACTION")
        before = con.execute("SELECT count(*) FROM raw.submission_versions").fetchone()[0]
        if version_rows:
            _insert_or_ignore(con, "raw.submission_versions", VERSION_COLUMNS, version_rows)
            _insert_or_ignore(con, "raw.validation_results", RESULT_COLUMNS, result_rows)
        after = con.execute("SELECT count(*) FROM raw.submission_versions").fetchone()[0]
        con.execute("DELETE FROM raw.units")
        con.executemany(
            "INSERT INTO raw.units VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (u["unit_code"], u.get("unit_name"), u.get("unit_type"), u.get("province_code"),
                 u.get("population"), u.get("active_from"), u.get("active_to"), now)
                for u in units
            ],
        )
        con.execute("DELETE FROM raw.tasks")
        con.executemany(
            "INSERT INTO raw.tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (t["task_code"], t.get("title"), t.get("task_group"), t.get("source"),
                 t.get("assigned_unit_code"), t.get("assigned_on"), t.get("deadline"), now)
                for t in tasks
            ],
        )
        _load_reference_communes(con)
        con.execute("DELETE FROM raw.unit_pulls WHERE run_id = ?", [run_id])
        con.executemany(
            "INSERT INTO raw.unit_pulls VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (run_id, as_of_date, r["unit_code"], r["outcome"], r["error"],
                 r["versions_received"], now)
                for r in pull_results
            ],
        )
        # Watermarks advance only over versions now stored, in this same transaction.
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
        log.info("load: %d versions staged in one transaction; committing", len(version_rows))
        if commit_delay_seconds:
            time.sleep(commit_delay_seconds)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return {"versions_landed": len(version_rows), "versions_new": after - before}


VERSION_COLUMNS = ("submission_id", "version", "unit_code", "form", "form_version", "period", "status",
                   "submitted_at", "updated_at", "payload", "record", "content_hash", "pulled_at",
                   "run_id")
RESULT_COLUMNS = ("submission_id", "version", "content_hash", "is_valid", "reasons", "checked_at")


def _insert_or_ignore(con: duckdb.DuckDBPyConnection, table: str, columns: tuple[str, ...],
                      rows: list[tuple[Any, ...]]) -> None:
    """Bulk insert through a DataFrame (executemany is row-at-a-time); duplicates are ignored."""
    import pandas as pd

    frame = pd.DataFrame.from_records(rows, columns=list(columns))
    for column in ("submitted_at", "updated_at", "pulled_at", "checked_at"):
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    con.register("incoming", frame)
    try:
        # The key of both tables; a version seen twice in one night is inserted once.
        con.execute(
            f"INSERT OR IGNORE INTO {table} ({', '.join(columns)}) "
            f"SELECT {', '.join(columns)} FROM incoming "
            "QUALIFY row_number() OVER (PARTITION BY submission_id, version, content_hash) = 1"
        )
    finally:
        con.unregister("incoming")


def _time_or_none(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None
