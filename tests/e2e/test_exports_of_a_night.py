"""What analysts and spreadsheet users get from the publish of the session's clean demo night
(reporting on 2025-09-21): exports, comments, Parquet metadata, checked against the figures the
Steering Committee published for that day: 135 central tasks, 79 completed; 24 dead-zone
villages in 2025-08.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import os
import shutil
import stat
from pathlib import Path

import duckdb
import pytest
import yaml
from openpyxl import load_workbook

from commune_dx.exports import WORKBOOK_NAME
from commune_dx.publishing import publish_marts
from commune_dx.settings import DBT_PROJECT_DIR, MART_TABLES

pytestmark = pytest.mark.e2e


def _published(clean_night) -> tuple[Path, Path]:
    warehouse, _ = clean_night
    return warehouse / "serving.duckdb", warehouse / "exports"


def _read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _serving_rows(serving: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(serving), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _sheet_records(wb, table: str) -> list[dict[str, object]]:
    """The rows of ``table``'s sheet keyed by column name, found through sheets About and Columns."""
    sheet = {row[1]: row[0] for row in wb["About"].iter_rows(min_row=2, values_only=True)}[table]
    header_to_column = {row[1]: row[2] for row in wb["Columns"].iter_rows(min_row=2, values_only=True)
                        if row[0] == sheet}
    rows = wb[sheet].iter_rows(values_only=True)
    header = [header_to_column[h] for h in next(rows)]
    return [dict(zip(header, row, strict=True)) for row in rows]


def test_every_mart_is_exported_as_csv_with_a_bom(clean_night):
    serving, exports = _published(clean_night)
    for table in MART_TABLES:
        path = exports / f"{table}.csv"
        raw = path.read_bytes()
        assert raw.startswith(codecs.BOM_UTF8), f"{path} has no byte order mark: Excel would garble it"
        rows = _read_csv(path)
        assert len(rows) == _serving_rows(serving, f"SELECT count(*) FROM marts.{table}")[0][0]
        columns = [r[0] for r in _serving_rows(serving, f"DESCRIBE marts.{table}")]
        assert list(rows[0]) == columns
        assert not any(v == "None" for row in rows for v in row.values()), f"{table}.csv writes None"
        assert stat.S_IMODE(path.stat().st_mode) == 0o444


def test_csv_holds_the_seed_figures(clean_night):
    serving, exports = _published(clean_night)
    completion = _read_csv(exports / "task_completion.csv")
    central = [r for r in completion if (r["as_of_date"], r["scope"], r["scope_code"])
               == ("2025-09-21", "province", "central")]
    assert [(r["tasks_total"], r["completed"]) for r in central] == [("135", "79")]
    connectivity = _read_csv(exports / "connectivity_province_monthly.csv")
    assert [r["dead_zone_villages"] for r in connectivity if r["period"] == "2025-08"] == ["24"]
    # Vietnamese names, booleans, NULLs and timestamps as a spreadsheet or pandas reads them.
    scorecard = _read_csv(exports / "commune_scorecard.csv")
    names = {r[0] for r in _serving_rows(serving, "SELECT unit_name FROM marts.commune_scorecard")}
    assert {r["unit_name"] for r in scorecard} == names
    assert any(not name.isascii() for name in names)
    pulls = _read_csv(exports / "unit_pull_status.csv")
    assert {r["received"] for r in pulls} <= {"true", "false"}
    assert "" in {r["pull_error"] for r in pulls}  # NULL: an empty field
    assert all(r["unit_code"] == r["unit_code"].strip() and r["unit_code"] for r in pulls)
    assert all(r["finished_at"].endswith("+07") for r in pulls), pulls[0]["finished_at"]


def test_workbook_holds_every_mart_with_readable_headers(clean_night):
    serving, exports = _published(clean_night)
    path = exports / WORKBOOK_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o444
    wb = load_workbook(path)
    assert wb.sheetnames[:2] == ["About", "Columns"]
    about = {row[1]: row for row in wb["About"].iter_rows(min_row=2, values_only=True)}
    assert list(about) == list(MART_TABLES)
    assert all(len(name) <= 31 for name in wb.sheetnames)
    assert len({name.lower() for name in wb.sheetnames}) == len(wb.sheetnames)
    for table, (sheet, _, rows, shown, _, description) in about.items():
        assert rows == _serving_rows(serving, f"SELECT count(*) FROM marts.{table}")[0][0]
        assert sum(1 for _ in wb[sheet].iter_rows()) == shown + 1
        assert description, f"no description for {table} in sheet About"
    header = next(wb[about["task_completion"][0]].iter_rows(values_only=True))
    assert header[:4] == ("As of date", "Scope", "Scope code", "Tasks total")

    completion = _sheet_records(wb, "task_completion")
    central = [r for r in completion if (r["scope"], r["scope_code"]) == ("province", "central")]
    assert [(r["as_of_date"], r["tasks_total"], r["completed"]) for r in central] == [
        (dt.datetime(2025, 9, 21), 135, 79)]  # openpyxl reads an Excel date back as a datetime
    dead = [r["dead_zone_villages"] for r in _sheet_records(wb, "connectivity_province_monthly")
            if r["period"] == "2025-08"]
    assert dead == [24]

    pulls = _sheet_records(wb, "unit_pull_status")
    codes = {r[0] for r in _serving_rows(serving, "SELECT unit_code FROM marts.unit_pull_status")}
    assert {r["unit_code"] for r in pulls} == codes  # text: leading zeros kept
    assert any(code.startswith("0") for code in codes)
    assert {type(r["received"]) for r in pulls} == {bool}
    assert {type(r["finished_at"]) for r in pulls} == {dt.datetime}
    assert None in {r["pull_error"] for r in pulls}
    assert not any(v == "None" for r in pulls for v in r.values())


def test_descriptions_are_comments_a_fresh_reader_sees(clean_night):
    serving, _ = _published(clean_night)
    models = yaml.safe_load(
        (DBT_PROJECT_DIR / "models/marts/tasks/_tasks__models.yml").read_text(encoding="utf-8"))["models"]
    dbt_doc = next(m for m in models if m["name"] == "task_completion")
    con = duckdb.connect(str(serving), read_only=True)
    try:
        tables = dict(con.execute("SELECT table_name, comment FROM duckdb_tables() "
                                  "WHERE schema_name = 'marts'").fetchall())
        assert set(MART_TABLES) <= set(tables)
        assert all(tables[t] for t in MART_TABLES), [t for t in MART_TABLES if not tables[t]]
        assert tables["task_completion"] == " ".join(dbt_doc["description"].split())
        columns = con.execute("SELECT table_name, column_name, comment FROM duckdb_columns() "
                              "WHERE schema_name = 'marts'").fetchall()
        assert [(t, c) for t, c, comment in columns if not comment] == []
        completion = {c: comment for t, c, comment in columns if t == "task_completion"}
        assert {c["name"]: c["description"] for c in dbt_doc["columns"]} == completion
        # The marts without their schema, as views in main.
        assert con.execute("SELECT count(*) FROM task_status").fetchone() == \
            con.execute("SELECT count(*) FROM marts.task_status").fetchone()
        views = dict(con.execute("SELECT view_name, comment FROM duckdb_views() "
                                 "WHERE schema_name = 'main' AND NOT internal").fetchall())
        assert {t: tables[t] for t in MART_TABLES} == {t: views[t] for t in MART_TABLES}
    finally:
        con.close()


def test_parquet_files_carry_the_descriptions(clean_night):
    serving, _ = _published(clean_night)
    parquet_dir = serving.parent / "marts"
    con = duckdb.connect(str(serving), read_only=True)
    try:
        for table in MART_TABLES:
            path = str(parquet_dir / f"{table}.parquet").replace("'", "''")
            metadata = {k.decode(): v.decode() for k, v in con.execute(
                f"SELECT key, value FROM parquet_kv_metadata('{path}')").fetchall()}
            expected = {"description": con.execute(
                "SELECT comment FROM duckdb_tables() WHERE schema_name = 'marts' AND table_name = ?",
                [table]).fetchone()[0]}
            expected |= {f"description.{c}": comment for c, comment in con.execute(
                "SELECT column_name, comment FROM duckdb_columns() WHERE schema_name = 'marts' "
                "AND table_name = ?", [table]).fetchall()}
            assert {k: v for k, v in metadata.items() if k.startswith("description")} == expected
    finally:
        con.close()


def test_a_publish_that_fails_mid_export_leaves_the_previous_exports(clean_night, tmp_path):
    warehouse, _ = clean_night
    working = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse / "warehouse.duckdb", working)
    os.chmod(working, 0o644)
    serving, parquet, exports = tmp_path / "serving.duckdb", tmp_path / "marts", tmp_path / "exports"
    publish_marts(working, serving, parquet, exports)
    (exports / "dropped_mart.csv").write_text("left by a mart no longer published", encoding="utf-8")
    publish_marts(working, serving, parquet, exports)
    assert not (exports / "dropped_mart.csv").exists()
    before = {p.name: p.read_bytes() for p in exports.iterdir()}
    assert set(before) == {f"{t}.csv" for t in MART_TABLES} | {WORKBOOK_NAME}

    # The next publish would export an empty task_status, then fails after task_completion's CSV.
    con = duckdb.connect(str(working))
    con.execute("DELETE FROM marts.task_status")
    con.close()
    with pytest.raises(RuntimeError, match="fault injected after exporting task_completion"):
        publish_marts(working, serving, parquet, exports, fail_after_exporting="task_completion")
    assert {p.name: p.read_bytes() for p in exports.iterdir()} == before
    assert len(_read_csv(exports / "task_status.csv")) > 0

    publish_marts(working, serving, parquet, exports)
    assert _read_csv(exports / "task_status.csv") == []
    assert sorted(p.name for p in exports.iterdir()) == sorted(before)


def test_the_workbook_shows_a_nightly_mart_s_latest_night(clean_night, tmp_path):
    warehouse, _ = clean_night
    working = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse / "warehouse.duckdb", working)
    os.chmod(working, 0o644)
    con = duckdb.connect(str(working))
    # A night before the demo night, as a second run would have left it.
    con.execute("INSERT INTO marts.task_completion "
                "SELECT * REPLACE (as_of_date - 1 AS as_of_date) FROM marts.task_completion")
    nightly_rows = con.execute("SELECT count(*) FROM marts.task_completion").fetchone()[0]
    con.close()
    exports = tmp_path / "exports"
    publish_marts(working, tmp_path / "serving.duckdb", tmp_path / "marts", exports)
    csv_nights = {r["as_of_date"] for r in _read_csv(exports / "task_completion.csv")}
    assert csv_nights == {"2025-09-20", "2025-09-21"}
    wb = load_workbook(exports / WORKBOOK_NAME)
    rows = _sheet_records(wb, "task_completion")
    assert {r["as_of_date"] for r in rows} == {dt.datetime(2025, 9, 21)}
    assert len(rows) == nightly_rows // 2
    about = {row[1]: row for row in wb["About"].iter_rows(min_row=2, values_only=True)}
    assert about["task_completion"][2:5] == (
        nightly_rows, nightly_rows // 2, "the latest night (2025-09-21); every night in task_completion.csv")
    assert about["connectivity_monthly"][4] == "all rows"
