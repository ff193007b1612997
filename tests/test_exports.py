"""Exports for spreadsheet users (``commune_dx.exports``): CSV with a byte order mark and one
workbook, written from a small DuckDB schema as ``publish`` writes them from the serving file."""

from __future__ import annotations

import codecs
import csv
import datetime as dt

import duckdb
import pytest
from openpyxl import load_workbook

from commune_dx.exports import (
    WORKBOOK_NAME,
    ColumnDoc,
    MartDoc,
    humanise,
    sheet_names,
    write_csv,
    write_workbook,
)
from commune_dx.settings import LOCAL_TZ


@pytest.fixture()
def marts():
    """Schema ``marts`` with a nightly mart (two nights) and a mart of periods, in memory."""
    con = duckdb.connect()
    con.execute(f"SET TimeZone = '{LOCAL_TZ}'")
    con.execute("CREATE SCHEMA marts")
    con.execute("""CREATE TABLE marts.pulls AS SELECT * FROM (VALUES
        (DATE '2025-09-20', '04792', 'Xã Hòa Bình', TIMESTAMPTZ '2025-09-20 18:30:00+00', true),
        (DATE '2025-09-21', '04792', 'Xã Hòa Bình', TIMESTAMPTZ '2025-09-21 18:30:00+00', false),
        (DATE '2025-09-21', '=1+1', NULL, NULL, NULL)
    ) t(as_of_date, unit_code, unit_name, finished_at, ok)""")
    con.execute("CREATE TABLE marts.monthly AS SELECT * FROM (VALUES ('2025-07', 0.5), ('2025-08', NULL))"
                " t(period, rate)")
    yield con
    con.close()


def _docs(con, table: str, description: str) -> MartDoc:
    columns = tuple(ColumnDoc(name, data_type, f"the {name}") for name, data_type in con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index",
        [table]).fetchall())
    rows = con.execute(f"SELECT count(*) FROM marts.{table}").fetchone()[0]
    return MartDoc(table, description, columns, rows)


def test_sheet_names_fit_excel():
    names = sheet_names(["About", "about", "public_services_province_monthly",
                         "public_services_province_monthly_2", "history", "x" * 40, "x" * 40])
    assert names[0] == "About"
    assert names[2] == "public_services_province_month…"
    assert all(len(n) <= 31 for n in names)
    assert len({n.lower() for n in names}) == len(names)
    assert "history" not in {n.lower() for n in names}


def test_humanised_headers():
    assert humanise("dead_zone_villages") == "Dead zone villages"
    assert humanise("as_of_date") == "As of date"


def test_csv_has_a_bom_a_header_and_every_row_as_duckdb_writes_it(marts, tmp_path):
    path = tmp_path / "pulls.csv"
    write_csv(marts, "marts.pulls", path)
    raw = path.read_bytes()
    assert raw.startswith(codecs.BOM_UTF8) and not raw[3:].startswith(codecs.BOM_UTF8)
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["unit_code"] for r in rows] == ["04792", "04792", "=1+1"]  # codes keep their zeros
    assert rows[0]["unit_name"] == "Xã Hòa Bình" and rows[2]["unit_name"] == ""  # NULL: empty
    assert rows[1]["finished_at"].startswith("2025-09-22 01:30:00")  # local time, with its offset
    assert rows[0]["ok"] == "true"
    assert not list(tmp_path.glob("*.body"))


def test_the_workbook_has_about_columns_and_a_sheet_per_mart_with_the_latest_night(marts, tmp_path):
    docs = [_docs(marts, "pulls", "Each unit's pull"), _docs(marts, "monthly", "A rate per month")]
    path = tmp_path / WORKBOOK_NAME
    write_workbook(marts, "marts", docs, path)
    wb = load_workbook(path)
    assert wb.sheetnames == ["About", "Columns", "pulls", "monthly"]
    about = list(wb["About"].iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[2], r[3]) for r in about] == [("pulls", 3, 2), ("monthly", 2, 2)]
    assert "latest night (2025-09-21)" in about[0][4] and about[1][5] == "A rate per month"
    columns = list(wb["Columns"].iter_rows(min_row=2, values_only=True))
    assert ("pulls", "Finished at", "finished_at", f"timestamp ({LOCAL_TZ} local time)",
            "the finished_at") in columns
    pulls = list(wb["pulls"].iter_rows(values_only=True))
    assert pulls[0] == ("As of date", "Unit code", "Unit name", "Finished at", "Ok")
    assert pulls[1] == (dt.datetime(2025, 9, 21), "04792", "Xã Hòa Bình", dt.datetime(2025, 9, 22, 1, 30),
                        False)
    assert (wb["pulls"]["B3"].value, wb["pulls"]["B3"].data_type) == ("=1+1", "s")  # text, not a formula
    assert list(wb["monthly"].iter_rows(min_row=2, values_only=True)) == [("2025-07", 0.5), ("2025-08", None)]


def test_a_mart_of_periods_shows_its_last_two_periods_of_each_form_in_the_workbook(tmp_path):
    """Years of monthly and quarterly history stay in the CSV; the workbook shows the last two
    periods of each form (the one being filed and the one before)."""
    con = duckdb.connect()
    con.execute("CREATE SCHEMA marts")
    con.execute("""CREATE TABLE marts.completeness AS
        SELECT 'connectivity_report' AS form,
               strftime(DATE '2023-01-01' + INTERVAL (i) MONTH, '%Y-%m') AS period
        FROM range(32) r(i)
        UNION ALL SELECT * FROM (VALUES ('capacity_report', '2024-Q4'), ('capacity_report', '2025-Q1'),
                                        ('capacity_report', '2025-Q3')) q(form, period)""")
    con.execute("CREATE TABLE marts.months AS SELECT period FROM marts.completeness WHERE form LIKE 'conn%'")
    con.execute("CREATE TABLE marts.short AS SELECT * FROM (VALUES ('2025-07'), ('2025-08')) t(period)")
    con.execute("CREATE TABLE marts.quarantine AS SELECT period FROM marts.months")  # a list to work through
    path = tmp_path / WORKBOOK_NAME
    tables = ("completeness", "months", "short", "quarantine")
    write_workbook(con, "marts", [_docs(con, t, t) for t in tables], path)
    wb = load_workbook(path)

    def shown(sheet):
        return sorted(row[-1] for row in wb[sheet].iter_rows(min_row=2, values_only=True))

    assert shown("completeness") == ["2025-07", "2025-08", "2025-Q1", "2025-Q3"]
    assert shown("months") == ["2025-07", "2025-08"]
    assert shown("short") == ["2025-07", "2025-08"]
    about = {r[1]: r[2:5] for r in wb["About"].iter_rows(min_row=2, values_only=True)}
    assert about["completeness"] == (
        35, 4, "the last 2 periods of each form; every period in completeness.csv")
    assert about["months"] == (32, 2, "the last 2 periods; every period in months.csv")
    assert about["short"] == (2, 2, "all rows")
    assert about["quarantine"] == (32, 32, "all rows")
